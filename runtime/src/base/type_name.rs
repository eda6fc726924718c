//! Type names without module paths, for people: `Gate`, `Option<String>`, not
//! `skynet_gate::gate::Gate`.

/// `T`'s type name without module paths: `u16`, `SocketAddr`, `Option<String>`.
pub(crate) fn short_type_name<T: ?Sized>() -> String {
    shorten(std::any::type_name::<T>())
}

/// `full` (a type name with paths) without its module paths.
pub(crate) fn shorten(full: &str) -> String {
    let is_delimiter = |c: char| "<>,;()[]& ".contains(c);
    let mut out = String::with_capacity(full.len());
    for token in full.split_inclusive(is_delimiter) {
        let (path, delimiter) = match token.char_indices().last() {
            Some((i, c)) if is_delimiter(c) => token.split_at(i),
            _ => (token, ""),
        };
        out.push_str(path.rsplit("::").next().unwrap_or(path));
        out.push_str(delimiter);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_generics_stay() {
        assert_eq!(short_type_name::<u16>(), "u16");
        assert_eq!(short_type_name::<String>(), "String");
        assert_eq!(short_type_name::<Option<String>>(), "Option<String>");
        assert_eq!(short_type_name::<(u8, &str)>(), "(u8, &str)");
        assert_eq!(shorten("a::b::Host<c::d::Gate>"), "Host<Gate>");
    }
}
