"""OpenSSL config templates, shipped as package data (``minipaas_certs.templates``)."""
