//! OIDC identity tokens (being written).
