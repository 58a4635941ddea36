//! The shipyard module.
