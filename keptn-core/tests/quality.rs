//! Quality gates: the lighthouse evaluation, SLO/SLI files and the offline evaluation, tested
//! through the public API of `keptn_core::quality`.

mod quality {
    pub mod support;

    mod comparison;
    mod criteria_rules;
    mod example_files;
    mod offline;
    mod props;
    mod scoring;
    mod sli_files;
}
