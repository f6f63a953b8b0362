//! The `conplus-operator` binary: parses the command line and hands over to [`conplus_operator::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    conplus_operator::cli::main()
}
