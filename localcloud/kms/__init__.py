"""KMS: moto's key table made safe for the requests the local cloud answers at once."""
