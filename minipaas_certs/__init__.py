"""minipaas-certs: TLS certificates for a remote Docker API, made with the system openssl."""

__version__ = "0.1.0"
