//! The `hookd` binary: everything lives in the library; see `cli::run`.

fn main() -> std::process::ExitCode {
    hookd::cli::run()
}
