//! `keptn evaluate`: the lighthouse's scoring offline.

use keptn_core::quality::offline;

use crate::cli::{EvaluateArgs, OutputFormat};
use crate::output::print_structured;

/// Runs the evaluation and returns the exit code (0 pass/warning, 2 fail, 3 bad input).
pub fn run(args: &EvaluateArgs) -> i32 {
    match offline::evaluate_files(&args.slo, &args.sli, args.previous.as_deref()) {
        Ok(report) => {
            let printed = match args.output {
                OutputFormat::Table => {
                    print!("{}", report.render_text());
                    Ok(())
                }
                format => print_structured(format, &report.to_json()),
            };
            match printed {
                Ok(()) => report.exit_code(),
                Err(e) => {
                    eprintln!("Error: writing the result: {e:#}");
                    1
                }
            }
        }
        Err(err) => {
            eprintln!("Error: {err}");
            err.exit_code()
        }
    }
}
