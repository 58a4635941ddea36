//! The datastore module.
