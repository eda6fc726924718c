//! `skynet CONFIG [--set key=value]...`: starts a node from a config file.

use std::process::ExitCode;

use skynet_runtime::Config;

const USAGE: &str = "usage: skynet CONFIG [--set key=value]...\n\
  Starts a node: reads the TOML config, launches the service named by `start`,\n\
  runs until every service has exited or SIGINT/SIGTERM arrives.\n\
\n\
  --set key=value   replace or add a config key (repeatable; also --set=key=value)\n\
  -h, --help        this text\n\
  -V, --version     the version\n\
\n\
  Every config key is in docs/config.md; examples/config/ has runnable configs.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut path = None;
    let mut overrides = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("skynet {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "--set" => {
                let Some(kv) = args.get(i + 1) else {
                    eprintln!("skynet: --set needs key=value\n{USAGE}");
                    return ExitCode::from(2);
                };
                match Config::parse_override(kv) {
                    Ok(pair) => overrides.push(pair),
                    Err(e) => {
                        eprintln!("skynet: {e}");
                        return ExitCode::from(2);
                    }
                }
                i += 1;
            }
            a if a.starts_with("--set=") => match Config::parse_override(&a[6..]) {
                Ok(pair) => overrides.push(pair),
                Err(e) => {
                    eprintln!("skynet: {e}");
                    return ExitCode::from(2);
                }
            },
            a if path.is_none() && !a.starts_with('-') => path = Some(a.to_string()),
            a => {
                eprintln!("skynet: unexpected argument {a:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
        i += 1;
    }
    let Some(path) = path else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match skynet_services::run_node(&path, &overrides) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skynet: {e}");
            ExitCode::from(1)
        }
    }
}
