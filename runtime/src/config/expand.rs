//! `$VAR`, `${VAR}` and `$$` in config values.

use std::env::VarError;

/// Whether `c` may appear in an environment variable name after `$`.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands `$VAR`, `${VAR}` and `$$` in `s`; the error message names the variable.
pub(super) fn expand(
    s: &str,
    env: &dyn Fn(&str) -> Result<String, VarError>,
) -> Result<String, String> {
    let lookup = |name: &str| {
        env(name).map_err(|e| match e {
            VarError::NotPresent => format!("environment variable `{name}` is not set"),
            VarError::NotUnicode(_) => {
                format!("environment variable `{name}` is not valid Unicode")
            }
        })
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let Some(close) = braced.find('}') else {
                return Err(format!("unterminated `${{` in {s:?}"));
            };
            let name = &braced[..close];
            if name.is_empty() || !name.chars().all(is_name_char) {
                return Err(format!("bad variable name `${{{name}}}` in {s:?}"));
            }
            out.push_str(&lookup(name)?);
            rest = &braced[close + 1..];
        } else {
            let len = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
            if len == 0 {
                // A `$` not starting a name is kept as is.
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len])?);
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}
