"""What protects stored data: keyrings and sealing, password and token hashing."""
