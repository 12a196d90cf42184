"""Keys and blobs: keyring, streaming encryption, blob stores, type sniffing."""
