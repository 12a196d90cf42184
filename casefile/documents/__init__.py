"""Writers of documents for people and courts: custody report PDFs, later the court bundle
export. They may use any dependency of Casefile; what must run offline inside a bundle lives
apart, in casefile/verifier/."""
