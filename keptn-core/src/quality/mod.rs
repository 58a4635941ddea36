//! The quality module.
