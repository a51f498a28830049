// Optional help for approvers with a browser wallet (EIP-1193 window.ethereum): signs the page's EIP-712 typed
// data with eth_signTypedData_v4 and puts the signature into the form. Without a wallet the button stays hidden
// and the approver pastes a signature made elsewhere (a hardware wallet). Served same-origin (CSP script-src
// 'self'); the signature is the authority, this script adds none.
"use strict";
(function () {
  function start() {
    var button = document.getElementById("wallet-sign");
    var status = document.getElementById("wallet-status");
    var typed = document.getElementById("typed-data");
    var field = document.getElementById("signature");
    var wallet = window.ethereum;
    if (!button || !status || !typed || !field || !wallet || typeof wallet.request !== "function") {
      return;
    }
    function say(text) {
      status.textContent = text;
      status.hidden = false;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      say("Asking your wallet to sign…");
      wallet
        .request({ method: "eth_requestAccounts" })
        .then(function (accounts) {
          if (!accounts || !accounts.length) {
            throw new Error("the wallet shared no account");
          }
          return wallet.request({ method: "eth_signTypedData_v4", params: [accounts[0], typed.textContent] });
        })
        .then(function (signature) {
          field.value = signature;
          say("Signed. Check the typed data once more, then relay your approval.");
        })
        .catch(function (error) {
          say("The wallet did not sign: " + (error && error.message ? error.message : String(error)));
        });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
