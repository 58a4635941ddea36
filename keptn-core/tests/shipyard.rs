//! Shipyard parsing, validation and 0.1 -> 0.2 conversion.

mod shipyard {
    mod conversion;
    mod sockshop;
    mod validation;
}
