//! Dropping the names of local variables from the embedded library's bytecode (Lua 5.5's
//! dump format, `ldump.c`), keeping everything else: line information (tracebacks keep
//! their `file:line`), upvalue names (tracebacks keep `in upvalue 'suspend'`, errors keep
//! `global 'x'`), sources. What goes is each function's list of locals and the strings
//! naming them: ~40% of the strings a state interns when it loads `skynet`, so loading is
//! faster and every Lua service smaller. A call through a local variable inside the
//! library shows in a traceback as `in function <embedded/skynet.lua:LINE>` instead of
//! `in local 'f'`; user code is never rewritten.
//!
//! Any input this parser does not follow exactly gives `None` (the caller keeps the dump
//! as it was).

/// The dump format's reader: a position, and the saved strings in order (a string is
/// written once, then referred to by its index).
struct In<'a> {
    b: &'a [u8],
    pos: usize,
    strings: Vec<&'a [u8]>,
}

/// The writer: the same saved-strings rule, numbered afresh.
struct Out<'a> {
    b: Vec<u8>,
    saved: std::collections::HashMap<&'a [u8], usize>,
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// `loadVarint`: 7 bits a byte, most significant first, high bit = more.
    fn varint(&mut self) -> Option<u64> {
        let mut x: u64 = 0;
        loop {
            let b = self.byte()?;
            x = x.checked_mul(128)? | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                return Some(x);
            }
        }
    }

    fn int(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }

    /// Skips the padding that aligns the next item to `align` bytes of the stream.
    fn align(&mut self, align: usize) -> Option<()> {
        let pad = (align - self.pos % align) % align;
        self.take(pad).map(|_| ())
    }

    /// A string: None inside Some for NULL.
    fn string(&mut self) -> Option<Option<&'a [u8]>> {
        let size = self.int()?;
        if size == 0 {
            let idx = self.int()?;
            if idx == 0 {
                return Some(None);
            }
            return self.strings.get(idx - 1).map(|s| Some(*s));
        }
        // size - 1 bytes and a terminating NUL.
        let s = self.take(size)?;
        let s = s.get(..size - 1)?;
        self.strings.push(s);
        Some(Some(s))
    }
}

impl<'a> Out<'a> {
    fn bytes(&mut self, s: &[u8]) {
        self.b.extend_from_slice(s);
    }

    fn varint(&mut self, mut x: u64) {
        let mut buf = [0u8; 10];
        let mut i = buf.len() - 1;
        buf[i] = (x & 0x7f) as u8;
        x >>= 7;
        while x != 0 {
            i -= 1;
            buf[i] = (x & 0x7f) as u8 | 0x80;
            x >>= 7;
        }
        self.b.extend_from_slice(&buf[i..]);
    }

    fn int(&mut self, x: usize) {
        self.varint(x as u64);
    }

    fn align(&mut self, align: usize) {
        let pad = (align - self.b.len() % align) % align;
        self.b.resize(self.b.len() + pad, 0);
    }

    fn string(&mut self, s: Option<&'a [u8]>) {
        match s {
            None => {
                self.int(0);
                self.int(0);
            }
            Some(s) => match self.saved.get(s) {
                Some(&idx) => {
                    self.int(0);
                    self.int(idx);
                }
                None => {
                    self.int(s.len() + 1);
                    self.bytes(s);
                    self.bytes(&[0]);
                    let idx = self.saved.len() + 1;
                    self.saved.insert(s, idx);
                }
            },
        }
    }
}

// Constant tags (lobject.h: type | variant << 4).
const VNIL: u8 = 0;
const VFALSE: u8 = 1;
const VTRUE: u8 = 1 | 1 << 4;
const VNUMINT: u8 = 3;
const VNUMFLT: u8 = 3 | 1 << 4;
const VSHRSTR: u8 = 4;
const VLNGSTR: u8 = 4 | 1 << 4;

fn function<'a>(i: &mut In<'a>, o: &mut Out<'a>) -> Option<()> {
    let line = i.int()?;
    let last = i.int()?;
    o.int(line);
    o.int(last);
    let head = i.take(3)?; // numparams, flag, maxstacksize
    o.bytes(head);
    // code
    let n = i.int()?;
    o.int(n);
    i.align(4)?;
    o.align(4);
    let code = i.take(n.checked_mul(4)?)?;
    o.bytes(code);
    // constants
    let n = i.int()?;
    o.int(n);
    for _ in 0..n {
        let tag = i.byte()?;
        o.bytes(&[tag]);
        match tag {
            VNUMFLT => {
                let f = i.take(8)?;
                o.bytes(f);
            }
            VNUMINT => {
                let v = i.varint()?;
                o.varint(v);
            }
            VSHRSTR | VLNGSTR => {
                let s = i.string()?;
                o.string(s);
            }
            VNIL | VFALSE | VTRUE => {}
            _ => return None,
        }
    }
    // upvalues (instack, idx, kind)
    let nup = i.int()?;
    o.int(nup);
    let ups = i.take(nup.checked_mul(3)?)?;
    o.bytes(ups);
    // nested functions
    let n = i.int()?;
    o.int(n);
    for _ in 0..n {
        function(i, o)?;
    }
    // source
    let src = i.string()?;
    o.string(src);
    // debug: line info, kept
    let n = i.int()?;
    o.int(n);
    let li = i.take(n)?;
    o.bytes(li);
    let n = i.int()?;
    o.int(n);
    if n > 0 {
        i.align(4)?;
        o.align(4);
        let abs = i.take(n.checked_mul(8)?)?;
        o.bytes(abs);
    }
    // local variables: read (their strings count for later references), not written
    let n = i.int()?;
    for _ in 0..n {
        i.string()?;
        i.int()?;
        i.int()?;
    }
    o.int(0);
    // upvalue names, kept
    let n = i.int()?;
    o.int(n);
    for _ in 0..n {
        let s = i.string()?;
        o.string(s);
    }
    Some(())
}

/// `dump` (from `lua_dump`, not stripped) without the names of local variables; None if
/// it does not parse as Lua 5.5's format.
pub(crate) fn drop_local_names(dump: &[u8]) -> Option<Vec<u8>> {
    let mut i = In {
        b: dump,
        pos: 0,
        strings: Vec::new(),
    };
    let mut o = Out {
        b: Vec::with_capacity(dump.len()),
        saved: std::collections::HashMap::new(),
    };
    // Header: signature (4), version, format, LUAC_DATA (6), then four sizes each
    // followed by a sample value of that size.
    let fixed = i.take(12)?;
    if fixed.get(..4)? != b"\x1bLua" || fixed.get(4)? != &0x55 {
        return None;
    }
    o.bytes(fixed);
    for _ in 0..4 {
        let size = i.byte()?;
        let sample = i.take(usize::from(size))?;
        o.bytes(&[size]);
        o.bytes(sample);
    }
    let nup = i.byte()?; // the main function's upvalue count
    o.bytes(&[nup]);
    function(&mut i, &mut o)?;
    (i.pos == dump.len()).then_some(o.b)
}

#[cfg(test)]
mod tests {
    use mlua::chunk::ChunkMode;
    use mlua::{Function, Lua, LuaOptions, StdLib};

    fn lua() -> Lua {
        // SAFETY: a test state that needs `debug` (traceback, getupvalue); it loads only
        // the chunks of this test.
        unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::new()) }
    }

    const SRC: &str = r#"
local up = 40
local function helper(a, b)
    local sum = a + b + up
    if sum > 1000 then error("too big") end
    return sum, "a long string constant that is longer than forty characters", 1.5, 2^60
end
local t = { helper = helper }
return function(x)
    local long_local_name = t.helper(x, 2)
    return long_local_name, debug.traceback("tb")
end
"#;

    fn load(lua: &Lua, code: &[u8]) -> Function {
        lua.load(code)
            .set_mode(ChunkMode::Binary)
            .set_name("@strip_test.lua")
            .into_function()
            .expect("loads")
    }

    #[test]
    fn the_rewritten_chunk_runs_and_keeps_lines_and_upvalue_names() {
        let lua = lua();
        let f = lua
            .load(SRC)
            .set_name("@strip_test.lua")
            .into_function()
            .expect("compiles");
        let dump = f.dump(false);
        let out = super::drop_local_names(&dump).expect("parses");
        assert!(out.len() < dump.len(), "{} vs {}", out.len(), dump.len());
        let g: Function = load(&lua, &out).call(()).expect("runs");
        let (v, tb): (i64, String) = g.call(1).expect("calls");
        assert_eq!(v, 43);
        assert!(tb.contains("strip_test.lua:11"), "{tb}");
        // An error inside keeps its line; the upvalue `t` is still named.
        let err = g.call::<i64>(2000).expect_err("raises").to_string();
        assert!(err.contains("strip_test.lua:5: too big"), "{err}");
        let info: String = lua
            .load("local f = ...; return (debug.getupvalue(f, 1))")
            .call(g)
            .expect("getupvalue");
        assert_eq!(info, "t");
        // Rewriting what was rewritten changes nothing.
        assert_eq!(super::drop_local_names(&out).as_deref(), Some(&out[..]));
    }

    #[test]
    fn every_embedded_module_is_rewritten() {
        let lua = lua();
        let mut sources: Vec<(&str, &str)> = ["skynet", "skynet.manager", "skynet.queue"]
            .iter()
            .map(|n| (*n, crate::lualib::find(n).expect("embedded")))
            .collect();
        sources.extend_from_slice(crate::lualib::PRELOADED);
        for (name, src) in sources {
            let dump = lua
                .load(src)
                .set_name(name)
                .into_function()
                .expect("compiles")
                .dump(false);
            let out = super::drop_local_names(&dump).expect(name);
            load(&lua, &out);
        }
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(super::drop_local_names(b"").is_none());
        assert!(super::drop_local_names(b"return 1").is_none());
        let lua = lua();
        let dump = lua.load(SRC).into_function().expect("compiles").dump(false);
        for cut in [13, 41, dump.len() / 2, dump.len() - 1] {
            assert!(
                super::drop_local_names(&dump[..cut]).is_none(),
                "cut at {cut}"
            );
        }
    }
}
