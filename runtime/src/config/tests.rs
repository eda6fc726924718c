//! Tests of the config loader: parsing, expansion, overrides, the standard keys, errors.

use super::expand::expand;
use super::*;
use std::env::VarError;
use std::path::Path;
use std::time::Duration;

use log::LevelFilter;

/// A fake environment: `HOME=/home/sky`, `PORT=8888`, `EMPTY=`, nothing else.
fn fake_env(name: &str) -> Result<String, VarError> {
    match name {
        "HOME" => Ok("/home/sky".into()),
        "PORT" => Ok("8888".into()),
        "EMPTY" => Ok(String::new()),
        _ => Err(VarError::NotPresent),
    }
}

fn parse_env(text: &str) -> Result<Config, ConfigError> {
    Config::parse_with_env(text, Some(Path::new("echo.toml")), &fake_env)
}

fn parse_file(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Some(Path::new("echo.toml")))
}

fn parse_err(text: &str) -> ConfigError {
    match parse_file(text) {
        Ok(config) => panic!("expected an error for {text:?}, got {config:?}"),
        Err(e) => e,
    }
}

fn pairs(args: &[&str]) -> Vec<(String, String)> {
    args.iter()
        .map(|a| Config::parse_override(a).unwrap())
        .collect()
}

#[test]
fn round_trip_of_each_type() {
    let text = r#"
name = "echo"
literal = 'C:\dir'
multi = """
two
lines"""
"my key" = "quoted key"
port = 8888
negative = -3
hex = 0x1f
big = 9_223_372_036_854_775_807
ratio = 2.5
whole = 3.0
exp = 1e3
yes = true
no = false
empty = ""
"#;
    let config = parse_file(text).unwrap();
    assert_eq!(config.get("name"), Some("echo"));
    assert_eq!(config.get("literal"), Some(r"C:\dir"));
    assert_eq!(config.get("multi"), Some("two\nlines"));
    assert_eq!(config.get("my key"), Some("quoted key"));
    assert_eq!(config.get("port"), Some("8888"));
    assert_eq!(config.get("negative"), Some("-3"));
    assert_eq!(config.get("hex"), Some("31"));
    assert_eq!(config.get("big"), Some("9223372036854775807"));
    assert_eq!(config.get("ratio"), Some("2.5"));
    assert_eq!(config.get("whole"), Some("3"));
    assert_eq!(config.get("exp"), Some("1000"));
    assert_eq!(config.get("yes"), Some("true"));
    assert_eq!(config.get("no"), Some("false"));
    assert_eq!(config.get("empty"), Some(""));
    assert_eq!(config.get("absent"), None);
    assert_eq!(config.path(), Some(Path::new("echo.toml")));
    let keys: Vec<&str> = config.keys().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "big", "empty", "exp", "hex", "literal", "multi", "my key", "name", "negative", "no",
            "port", "ratio", "whole", "yes"
        ]
    );
    assert!(config.keys().any(|kv| kv == ("port", "8888")));
    // Lines are recorded for errors.
    assert_eq!(config.origins.get("name"), Some(&Origin::Line(2)));
    assert_eq!(config.origins.get("my key"), Some(&Origin::Line(7)));
    assert_eq!(config.origins.get("yes"), Some(&Origin::Line(15)));
}

#[test]
fn switches_default_on_and_a_bad_value_names_its_line() {
    type Getter = fn(&Config) -> Result<bool, ConfigError>;
    let switches: [(&str, Getter); 2] = [
        ("profile", Config::profile),
        ("sched_batch", Config::sched_batch),
    ];
    for (key, get) in switches {
        assert!(get(&parse_file("thread = 2\n").unwrap()).unwrap(), "{key}");
        let off = parse_file(&format!("{key} = false\n")).unwrap();
        assert!(!get(&off).unwrap(), "{key}");
        let e = parse_err(&format!("thread = 2\n{key} = \"maybe\"\n"));
        assert_eq!((e.line(), e.key()), (Some(2), Some(key)), "{e}");
    }
}

#[test]
fn empty_text_and_new_are_empty() {
    let config = parse_file("# only a comment\n").unwrap();
    assert_eq!(config.keys().count(), 0);
    let config = Config::new();
    assert_eq!(config.keys().count(), 0);
    assert_eq!(config.path(), None);
    config.validate().unwrap();
}

#[test]
fn bad_toml_names_file_and_line() {
    let e = parse_err("thread = 4\nstart = \"main\"\nport = = 1\n");
    assert_eq!(e.file(), Some(Path::new("echo.toml")));
    assert_eq!(e.line(), Some(3));
    assert_eq!(e.key(), None);
    let shown = e.to_string();
    assert!(shown.starts_with("echo.toml:3: invalid TOML: "), "{shown}");
    assert!(!shown.contains('\n'), "{shown}");

    let e = parse_err("a = 1\nb = \"unterminated\n");
    assert_eq!(e.line(), Some(2), "{e}");

    let e = parse_err("port = 1\n\nport = 2\n");
    assert_eq!(e.line(), Some(3), "{e}");
    assert!(e.message().contains("duplicate key"), "{e}");

    let e = Config::parse("x = \n", None).unwrap_err();
    assert!(
        e.to_string().starts_with("config: line 1: invalid TOML: "),
        "{e}"
    );
}

#[test]
fn tables_arrays_and_datetimes_are_rejected() {
    let e = parse_err("thread = 2\n\n[server]\nport = 1\n");
    assert_eq!(e.key(), Some("server"));
    assert_eq!(e.line(), Some(3));
    assert!(e.message().contains("got a table"), "{e}");

    let e = parse_err("thread = 2\nserver.port = 1\n");
    assert_eq!(e.key(), Some("server"));
    assert_eq!(e.line(), Some(2));
    assert!(e
        .to_string()
        .starts_with("echo.toml:2: key `server`: got a table"));

    let e = parse_err("inline = { a = 1 }\n");
    assert_eq!((e.key(), e.line()), (Some("inline"), Some(1)));

    let e = parse_err("a = 1\nlist = [1, 2]\n");
    assert_eq!((e.key(), e.line()), (Some("list"), Some(2)));
    assert!(e.message().contains("got an array"), "{e}");

    let e = parse_err("a = 1\n[[many]]\nb = 1\n");
    assert_eq!((e.key(), e.line()), (Some("many"), Some(2)));

    let e = parse_err("when = 1979-05-27\n");
    assert_eq!(e.key(), Some("when"));
    assert!(e.message().contains("datetime"), "{e}");
}

#[test]
fn variables_expand_from_the_environment() {
    let text = r#"
a = "$HOME/log"
b = "${HOME}x"
c = "$$HOME costs $$5"
d = "http://host:$PORT/$EMPTY"
e = "end $"
f = "$-not a name, ${PORT}$PORT"
g = 'literal strings expand too: $PORT'
n = 5
"#;
    let config = parse_env(text).unwrap();
    assert_eq!(config.get("a"), Some("/home/sky/log"));
    assert_eq!(config.get("b"), Some("/home/skyx"));
    assert_eq!(config.get("c"), Some("$HOME costs $5"));
    assert_eq!(config.get("d"), Some("http://host:8888/"));
    assert_eq!(config.get("e"), Some("end $"));
    assert_eq!(config.get("f"), Some("$-not a name, 88888888"));
    assert_eq!(config.get("g"), Some("literal strings expand too: 8888"));
    assert_eq!(config.get("n"), Some("5"));
    // `$HOME` is a name; `$HOMEx` would be another.
    assert_eq!(
        expand("$HOMEx", &fake_env).unwrap_err(),
        "environment variable `HOMEx` is not set"
    );
}

#[test]
fn expansion_uses_the_process_environment() {
    // PATH is set in any environment that can run cargo; read it rather than set_var.
    let Ok(path) = std::env::var("PATH") else {
        return;
    };
    let config = Config::parse("p = \"[$PATH]\"\nq = \"[${PATH}]\"\n", None).unwrap();
    assert_eq!(config.get("p"), Some(format!("[{path}]").as_str()));
    assert_eq!(config.get("q"), config.get("p"));
}

#[test]
fn unset_variable_names_file_line_key_and_variable() {
    let e = parse_env("a = 1\nlog = \"$NOPE_NOT_SET/x\"\n").unwrap_err();
    assert_eq!(e.file(), Some(Path::new("echo.toml")));
    assert_eq!(e.line(), Some(2));
    assert_eq!(e.key(), Some("log"));
    assert_eq!(
        e.to_string(),
        "echo.toml:2: key `log`: environment variable `NOPE_NOT_SET` is not set"
    );

    let e = parse_env("\n\nx = \"${ALSO_UNSET}\"\n").unwrap_err();
    assert_eq!((e.line(), e.key()), (Some(3), Some("x")));
    assert!(e.message().contains("`ALSO_UNSET`"), "{e}");

    let e = parse_env("x = \"${HOME\"\n").unwrap_err();
    assert!(e.message().contains("unterminated"), "{e}");
    let e = parse_env("x = \"${}\"\n").unwrap_err();
    assert!(e.message().contains("bad variable name"), "{e}");
    let e = parse_env("x = \"${A B}\"\n").unwrap_err();
    assert!(e.message().contains("bad variable name"), "{e}");

    let not_unicode = |_: &str| Err(VarError::NotUnicode(std::ffi::OsString::new()));
    let e = Config::parse_with_env("x = \"$V\"\n", None, &not_unicode).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config: line 1: key `x`: environment variable `V` is not valid Unicode"
    );
}

#[test]
fn overrides_replace_add_and_revalidate() {
    let config = parse_file("thread = 4\nport = 1\n").unwrap();
    let config = config
        .with_overrides(&pairs(&["thread=2", "extra=a=b", "port=", "port=9"]))
        .unwrap();
    assert_eq!(config.thread().unwrap(), 2);
    assert_eq!(config.get("extra"), Some("a=b"));
    assert_eq!(config.get("port"), Some("9"));
    // Overrides are not expanded: the shell already did that.
    let config = config.with_overrides(&pairs(&["home=$HOME"])).unwrap();
    assert_eq!(config.get("home"), Some("$HOME"));

    let e = parse_file("thread = 4\n")
        .unwrap()
        .with_overrides(&pairs(&["thread=abc"]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--set thread=abc: key `thread`: expected an integer from 1 to 1024, got \"abc\""
    );
    assert_eq!((e.file(), e.line(), e.key()), (None, None, Some("thread")));

    let e = Config::new()
        .with_overrides(&pairs(&["harbor=1", "loglevel=loud"]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--set loglevel=loud: key `loglevel`: expected one of off, error, warn, info, debug, \
         trace, got \"loud\""
    );

    let e = Config::new()
        .with_overrides(&[(String::new(), "v".into())])
        .unwrap_err();
    assert_eq!(e.to_string(), "--set =v: the key before `=` is empty");
}

#[test]
fn parse_override_splits_at_the_first_equals() {
    assert_eq!(
        Config::parse_override("port=8888").unwrap(),
        ("port".to_string(), "8888".to_string())
    );
    assert_eq!(
        Config::parse_override("k=a=b").unwrap(),
        ("k".to_string(), "a=b".to_string())
    );
    assert_eq!(
        Config::parse_override("k=").unwrap(),
        ("k".to_string(), String::new())
    );

    let e = Config::parse_override("noequals").unwrap_err();
    assert_eq!(e.to_string(), "--set noequals: expected key=value");
    assert_eq!((e.file(), e.line(), e.key()), (None, None, None));
    let e = Config::parse_override("=value").unwrap_err();
    assert_eq!(e.to_string(), "--set =value: the key before `=` is empty");
    assert!(Config::parse_override("").is_err());
}

#[test]
fn set_overwrites_and_get_reads() {
    let mut config = parse_file("port = 1\n").unwrap();
    config.set("port", "2");
    config.set("new", String::from("x"));
    assert_eq!(config.get("port"), Some("2"));
    assert_eq!(config.get("new"), Some("x"));
    // A value set by the program is not in the file: its errors name no file or line.
    config.set("thread", "0");
    let e = config.validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "config: key `thread`: expected an integer from 1 to 1024, got \"0\""
    );
}

#[test]
fn defaults_of_the_standard_keys() {
    let config = Config::new();
    assert_eq!(config.thread().unwrap(), 8);
    assert_eq!(config.start(), None);
    assert_eq!(config.logger(), None);
    assert_eq!(config.loglevel().unwrap(), LevelFilter::Info);
    assert_eq!(config.harbor().unwrap(), 0);
    assert_eq!(config.daemon(), None);
    assert_eq!(config.call_timeout().unwrap(), None);
}

#[test]
fn standard_keys_read_back() {
    let text = r#"
thread = 16
start = "main"
logger = "/var/log/skynet.log"
loglevel = "DEBUG"
harbor = 255
daemon = "./skynet.pid"
call_timeout = 2.5
"#;
    let config = parse_file(text).unwrap();
    assert_eq!(config.thread().unwrap(), 16);
    assert_eq!(config.start(), Some("main"));
    assert_eq!(config.logger(), Some("/var/log/skynet.log"));
    assert_eq!(config.loglevel().unwrap(), LevelFilter::Debug);
    assert_eq!(config.harbor().unwrap(), 255);
    assert_eq!(config.daemon(), Some("./skynet.pid"));
    assert_eq!(
        config.call_timeout().unwrap(),
        Some(Duration::from_millis(2500))
    );

    // Empty strings count as absent for the path-like keys.
    let config = parse_file("start = \"\"\nlogger = \"\"\ndaemon = \"\"\n").unwrap();
    assert_eq!(
        (config.start(), config.logger(), config.daemon()),
        (None, None, None)
    );
}

#[test]
fn thread_bounds() {
    for ok in [
        "thread = 1",
        "thread = 1024",
        "thread = \"12\"",
        "thread = \" 3 \"",
    ] {
        parse_file(ok).unwrap();
    }
    for (text, shown) in [
        ("thread = 0", "0"),
        ("thread = 1025", "1025"),
        ("thread = -1", "-1"),
        ("thread = 2.5", "2.5"),
        ("thread = \"x\"", "x"),
        ("thread = true", "true"),
    ] {
        let e = parse_err(&format!("a = 1\n{text}\n"));
        assert_eq!(
            e.to_string(),
            format!("echo.toml:2: key `thread`: expected an integer from 1 to 1024, got {shown:?}")
        );
    }
}

#[test]
fn loglevel_values() {
    for (text, level) in [
        ("off", LevelFilter::Off),
        ("error", LevelFilter::Error),
        ("Warn", LevelFilter::Warn),
        ("info", LevelFilter::Info),
        ("debug", LevelFilter::Debug),
        ("TRACE", LevelFilter::Trace),
    ] {
        let config = parse_file(&format!("loglevel = \"{text}\"")).unwrap();
        assert_eq!(config.loglevel().unwrap(), level);
    }
    let e = parse_err("loglevel = \"loud\"");
    assert_eq!(
        e.to_string(),
        "echo.toml:1: key `loglevel`: expected one of off, error, warn, info, debug, trace, \
         got \"loud\""
    );
    assert_eq!(parse_err("loglevel = 3").key(), Some("loglevel"));
}

#[test]
fn harbor_bounds() {
    assert_eq!(parse_file("harbor = 0").unwrap().harbor().unwrap(), 0);
    assert_eq!(parse_file("harbor = 7").unwrap().harbor().unwrap(), 7);
    let e = parse_err("harbor = 300");
    assert_eq!(
        e.to_string(),
        "echo.toml:1: key `harbor`: expected an integer from 0 to 255, got \"300\""
    );
    assert_eq!(parse_err("harbor = -1").key(), Some("harbor"));
    assert_eq!(parse_err("harbor = \"one\"").key(), Some("harbor"));
}

#[test]
fn call_timeout_values() {
    let read = |v: &str| parse_file(&format!("call_timeout = {v}")).map(|c| c.call_timeout());
    assert_eq!(read("0").unwrap().unwrap(), None);
    assert_eq!(read("0.0").unwrap().unwrap(), None);
    assert_eq!(read("3").unwrap().unwrap(), Some(Duration::from_secs(3)));
    assert_eq!(
        read("\"3\"").unwrap().unwrap(),
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        read("0.01").unwrap().unwrap(),
        Some(Duration::from_millis(10))
    );
    assert_eq!(
        read("2.5").unwrap().unwrap(),
        Some(Duration::from_millis(2500))
    );

    let e = read("-1").unwrap_err();
    assert_eq!(
        e.to_string(),
        "echo.toml:1: key `call_timeout`: expected a number of seconds, 0 or more \
         (0: no timeout), got \"-1\""
    );
    for bad in ["-0.5", "\"soon\"", "inf", "nan", "\"inf\"", "1e300", "true"] {
        let e = read(bad).unwrap_err();
        assert_eq!(e.key(), Some("call_timeout"), "{bad}: {e}");
    }
}

#[test]
fn get_parsed_names_the_bad_value_and_type() {
    let config = parse_file("a = 1\nport = 8888\nname = \"echo\"\nbad = \"80x\"\n").unwrap();
    assert_eq!(config.get_parsed::<u16>("port").unwrap(), Some(8888));
    assert_eq!(
        config.get_parsed::<String>("name").unwrap(),
        Some("echo".into())
    );
    assert_eq!(config.get_parsed::<u16>("missing").unwrap(), None);
    assert_eq!(config.get_parsed::<bool>("a").ok(), None);

    let e = config.get_parsed::<u16>("bad").unwrap_err();
    assert_eq!(
        e.to_string(),
        "echo.toml:4: key `bad`: expected a value of type u16, got \"80x\""
    );
    let e = config
        .get_parsed::<std::net::SocketAddr>("port")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "echo.toml:2: key `port`: expected a value of type SocketAddr, got \"8888\""
    );
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("skynet-config-test-{}.toml", std::process::id()));
    std::fs::write(&path, "thread = 2\nstart = \"main\"\n").unwrap();
    let config = Config::load(&path);
    let bad_path = dir.join(format!("skynet-config-bad-{}.toml", std::process::id()));
    std::fs::write(&bad_path, "start = \"main\"\nthread = \"abc\"\n").unwrap();
    let bad = Config::load(&bad_path);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&bad_path);

    let config = config.unwrap();
    assert_eq!(config.path(), Some(path.as_path()));
    assert_eq!(config.thread().unwrap(), 2);
    let e = bad.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2: key `thread`: expected an integer from 1 to 1024, got \"abc\"",
            bad_path.display()
        )
    );
}

#[test]
fn missing_file_names_the_path_and_os_reason() {
    let path = Path::new("/nonexistent-skynet-dir/echo.toml");
    let e = Config::load(path).unwrap_err();
    assert_eq!(e.file(), Some(path));
    assert_eq!(e.line(), None);
    let os_reason = std::fs::read_to_string(path).unwrap_err().to_string();
    assert_eq!(
        e.to_string(),
        format!("/nonexistent-skynet-dir/echo.toml: cannot read the config file: {os_reason}")
    );
}

#[test]
fn display_formats() {
    let e = parse_err("start = \"main\"\nport = 1\nthread = \"abc\"\n");
    assert_eq!(
        e.to_string(),
        "echo.toml:3: key `thread`: expected an integer from 1 to 1024, got \"abc\""
    );
    let e = Config::parse("start = \"main\"\nport = 1\nthread = \"abc\"\n", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config: line 3: key `thread`: expected an integer from 1 to 1024, got \"abc\""
    );
    assert_eq!(ConfigError::new("plain").to_string(), "config: plain");
    let e = ConfigError {
        file: Some("echo.toml".into()),
        ..ConfigError::new("no line")
    };
    assert_eq!(e.to_string(), "echo.toml: no line");

    fn is_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    is_error(&e);
    let copy = e.clone();
    assert_eq!(copy.to_string(), e.to_string());
}

#[test]
fn a_key_with_a_newline_stays_on_one_line() {
    let e = Config::parse("\"a\\nb\" = []\n", Some(Path::new("n.toml"))).unwrap_err();
    let text = e.to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("a\\nb"), "{text}");
}
