//! `pcn`, the command-line client; everything it does is in the `pieces-cli` crate.

fn main() -> std::process::ExitCode {
    pieces_cli::main()
}
