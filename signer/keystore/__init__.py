"""Where keys live: the `KeyStore` Protocol and its PKCS#11 implementation (in worker processes)."""
