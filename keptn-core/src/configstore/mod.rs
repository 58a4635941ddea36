//! The configstore module.
