"""HTML of password reset and recovery codes (pure functions, every value escaped; the layout of pages.py)."""

from __future__ import annotations

from collections.abc import Sequence

from dashboard.pages import PREFIX, _field, _notice, csrf_field, e, layout


def forgot_page(csrf: str, email: str = "", error: str = "") -> str:
    """Ask for the account's email to send a reset link to."""
    body = (
        "<p>Enter the email you sign in with. If it has an account, we send it a link to choose a new password.</p>"
        f'<form method="post" action="{PREFIX}/password/forgot" novalidate>{csrf_field(csrf)}'
        + _field("email", "Email", kind="email", value=email, error=error, autocomplete="username")
        + '<button type="submit" id="submit">Send the link</button></form>'
        f'<p class="alt"><a href="{PREFIX}/login">Back to sign in</a></p>'
    )
    return layout("Reset your password", body)


def reset_sent_page(email: str, ttl_minutes: int) -> str:
    """The same answer whether or not the email has an account (no account enumeration)."""
    body = (
        f'<p id="sent" role="status">If <strong>{e(email)}</strong> has a stablegate account, we sent it a link to '
        f"choose a new password. The link works once, for {ttl_minutes} minutes.</p>"
        f'<p class="alt"><a href="{PREFIX}/login">Back to sign in</a></p>'
    )
    return layout("Check your email", body)


def new_password_page(csrf: str, token: str, email: str, error: str = "") -> str:
    """Choose the new password (the link's token is in the form's action)."""
    body = (
        f'<p>Choose a new password for <strong id="reset-email">{e(email)}</strong>. '
        "Every session of this account, on any device, ends.</p>"
        f'<form method="post" action="{PREFIX}/password/reset/{e(token)}" novalidate>{csrf_field(csrf)}'
        '<input type="text" name="username" autocomplete="username" value="'
        f'{e(email)}" hidden>'
        + _field(
            "password",
            "New password (12 characters or more)",
            kind="password",
            error=error,
            autocomplete="new-password",
        )
        + '<button type="submit" id="submit">Set the new password</button></form>'
    )
    return layout("Choose a new password", body)


def reset_done_page() -> str:
    """After a reset."""
    body = (
        '<p id="reset-done" role="status">Your password is changed and every session of your account has ended.</p>'
        f'<p><a href="{PREFIX}/login" id="sign-in">Sign in with the new password</a></p>'
    )
    return layout("Password changed", body)


def codes_list(codes: Sequence[str]) -> str:
    """The codes, one per line, in a list the user can copy."""
    items = "".join(f'<li><code class="mono">{e(code)}</code></li>' for code in codes)
    return f'<ol class="recovery-codes" id="recovery-codes">{items}</ol>'


def codes_page(codes: Sequence[str], *, regenerated: bool) -> str:
    """The codes, shown this once."""
    lead = (
        "Your new recovery codes: the old ones no longer work."
        if regenerated
        else "Two-step login is on. Keep these recovery codes somewhere safe, apart from your phone."
    )
    body = (
        f'<p id="codes-lead">{e(lead)}</p>'
        "<p>Each code signs you in once if you lose your authenticator app. They are shown only now: "
        "we keep only a hash of each.</p>"
        f"{codes_list(codes)}"
        f'<p><a href="{PREFIX}/home" id="continue">I have saved them: continue</a></p>'
    )
    return layout("Save your recovery codes", body)


def security_page(
    csrf: str, who: str, left: int, *, notice: str = "", codes_error: str = "", totp_error: str = ""
) -> str:
    """The user's two-step login: recovery codes left, regenerate them, set up a new authenticator.

    Each change asks for the account's password again (a session alone does not replace a second factor).
    """
    warn = (
        '<p class="error" id="codes-low" role="alert">You have few recovery codes left: make a new set.</p>'
        if left <= 2
        else ""
    )
    body = (
        f"{_notice(notice)}"
        f'<p>Unused recovery codes: <strong id="codes-left">{left}</strong></p>{warn}'
        f'<form method="post" action="{PREFIX}/security/recovery-codes" novalidate>{csrf_field(csrf)}'
        + _field("codes-password", "Your password", kind="password", error=codes_error, autocomplete="current-password")
        + '<button type="submit" id="regenerate">Make new recovery codes</button></form>'
        "<h2>Lost your authenticator?</h2>"
        "<p>Set up a new one: the old app's codes stop working and you scan a new QR code.</p>"
        f'<form method="post" action="{PREFIX}/security/totp/reset" novalidate>{csrf_field(csrf)}'
        + _field("totp-password", "Your password", kind="password", error=totp_error, autocomplete="current-password")
        + '<button type="submit" id="new-authenticator">Set up a new authenticator</button></form>'
        f'<p class="alt"><a href="{PREFIX}/home">Back to home</a></p>'
    )
    return layout("Two-step login", body, csrf=csrf, who=who)


def recovery_login_page(csrf: str, error: str = "") -> str:
    """Sign in with a recovery code instead of the authenticator's code."""
    body = (
        "<p>Enter one of the recovery codes you saved when you set up two-step login. Each works once.</p>"
        f'<form method="post" action="{PREFIX}/totp/recovery" novalidate>{csrf_field(csrf)}'
        + _field("code", "Recovery code", error=error, autocomplete="off", extra=' spellcheck="false"')
        + '<button type="submit" id="submit">Continue</button></form>'
        f'<p class="alt"><a href="{PREFIX}/totp">Use the authenticator app instead</a></p>'
    )
    return layout("Use a recovery code", body)
