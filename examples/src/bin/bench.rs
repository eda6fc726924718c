//! `bench NAME [ARGS]`: runs one benchmark and prints one JSON line.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map(String::as_str).unwrap_or("");
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    let _ = rest;
    match name {
        _ => {
            eprintln!("usage: bench <NAME> [ARGS]  (unknown benchmark {name:?})");
            std::process::exit(2);
        }
    }
}
