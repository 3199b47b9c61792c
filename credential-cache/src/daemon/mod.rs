//! The daemon: hardening, the listening socket, the cache and the server.

pub mod cache;
pub mod harden;
pub mod log;
pub mod server;
pub mod socket;

/// A failure that ends the daemon: a sentence and an exit code.
#[derive(Debug)]
pub struct Fatal {
    /// What failed and what to do.
    pub message: String,
    /// 1 refused or failed, 2 usage or configuration.
    pub code: i32,
}

impl Fatal {
    /// Refused or failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Fatal {
        Fatal {
            message: message.into(),
            code: 1,
        }
    }

    /// Usage or configuration (exit 2).
    pub fn config(message: impl Into<String>) -> Fatal {
        Fatal {
            message: message.into(),
            code: 2,
        }
    }
}
