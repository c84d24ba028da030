//! hookd library.
pub mod verify;
