//! Standard libraries filled in field by field: `coroutine`, `table`, `string`, `math`
//! and `debug` start as empty tables whose metatable brings in a function the first time
//! it is read. Opening them whole cost each state ~20 us (names interned, tables grown,
//! `math` seeding its generator with a `clock()` system call) and ~6.5 KB, for the dozen
//! functions skynet's library actually uses.
//!
//! What a field may hold is learnt once per process from the libraries opened in a
//! scratch state: a C function without upvalues, an integer or a float is copied into the
//! stub when read; anything else (`math.random`'s generator state) opens the library for
//! real and copies all of it in. `pairs` over a stub fills it first (`__pairs`), so code
//! that lists a library sees all of it; only `rawget` and `next` before any read see
//! fewer fields than in stock Lua.

use std::ffi::{c_int, CStr, CString};
use std::sync::OnceLock;

use mlua::ffi::{self, lua_CFunction, lua_State};

/// What one field of a library holds.
#[derive(Clone, Copy)]
enum Field {
    Func(lua_CFunction),
    Int(i64),
    Num(f64),
    /// Only the library's own opening makes it (a closure with upvalues, a table...).
    Opened,
}

type Open = unsafe extern "C-unwind" fn(*mut lua_State) -> c_int;

/// The libraries opened field by field: (global name, opener).
const LIBS: [(&CStr, Open); 5] = [
    (c"coroutine", ffi::luaopen_coroutine),
    (c"table", ffi::luaopen_table),
    (c"string", ffi::luaopen_string),
    (c"math", ffi::luaopen_math),
    (c"debug", ffi::luaopen_debug),
];
const STRING: usize = 2;

/// The stubs' sizes: the fields `skynet.lua` and `skynet.profile` read (or the host sets)
/// while a service loads (coroutine: create, yield, running, close, resume, wrap; table:
/// remove, insert, unpack, create; string: format; debug: traceback, getregistry).
const STUB_SIZES: [c_int; 5] = [8, 4, 1, 0, 2];

struct Catalogue {
    /// Per library: its fields by name.
    libs: Vec<Vec<(CString, Field)>>,
    /// The string metatable's metamethods (`__add` ...; `__index` is the library).
    string_meta: Vec<(CString, Field)>,
    /// The base library's `next` (what `pairs` returns).
    next: Option<lua_CFunction>,
}

/// The fields of the table at the top of `l`'s stack.
///
/// # Safety
/// `l` is a state running nothing, a table at its top; the stack is left as found.
unsafe fn fields_of(l: *mut lua_State) -> Vec<(CString, Field)> {
    let mut out = Vec::new();
    // SAFETY: per the contract; `lua_next` over a table nothing changes meanwhile, keys
    // read without conversion (`lua_tolstring` on a string key does not change it).
    unsafe {
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            if ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
                let name = CStr::from_ptr(ffi::lua_tolstring(l, -2, std::ptr::null_mut()));
                let f = match ffi::lua_type(l, -1) {
                    ffi::LUA_TFUNCTION if ffi::lua_iscfunction(l, -1) != 0 => {
                        if ffi::lua_getupvalue(l, -1, 1).is_null() {
                            ffi::lua_tocfunction(l, -1).map_or(Field::Opened, Field::Func)
                        } else {
                            ffi::lua_pop(l, 1); // the upvalue it pushed
                            Field::Opened
                        }
                    }
                    ffi::LUA_TNUMBER if ffi::lua_isinteger(l, -1) != 0 => {
                        Field::Int(ffi::lua_tointeger(l, -1))
                    }
                    ffi::LUA_TNUMBER => Field::Num(ffi::lua_tonumber(l, -1)),
                    _ => Field::Opened,
                };
                out.push((name.to_owned(), f));
            }
            ffi::lua_pop(l, 1);
        }
    }
    out
}

fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| {
        let mut cat = Catalogue {
            libs: Vec::new(),
            string_meta: Vec::new(),
            next: None,
        };
        // SAFETY: a private state, opened here and closed at the end; every push is
        // popped. Opening a library in a fresh state only fails for lack of memory,
        // which aborts (no protected call: there is nothing to recover).
        unsafe {
            let l = ffi::luaL_newstate();
            if l.is_null() {
                // Without the catalogue every field opens its library whole.
                cat.libs = vec![Vec::new(); LIBS.len()];
                return cat;
            }
            ffi::luaL_requiref(l, c"_G".as_ptr(), ffi::luaopen_base, 0);
            ffi::lua_getfield(l, -1, c"next".as_ptr());
            cat.next = ffi::lua_tocfunction(l, -1);
            ffi::lua_pop(l, 2);
            for (name, open) in LIBS {
                ffi::luaL_requiref(l, name.as_ptr(), open, 0);
                cat.libs.push(fields_of(l));
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pushstring(l, c"".as_ptr());
            if ffi::lua_getmetatable(l, -1) != 0 {
                cat.string_meta = fields_of(l)
                    .into_iter()
                    .filter(|(n, _)| n.as_bytes() != b"__index")
                    .collect();
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pop(l, 1);
            ffi::lua_close(l);
        }
        cat
    })
}

/// Pushes a catalogued value; false for `Opened`.
///
/// # Safety
/// `l` has a free stack slot.
unsafe fn push(l: *mut lua_State, f: Field) -> bool {
    // SAFETY: per the contract; none of these allocates.
    unsafe {
        match f {
            Field::Func(f) => ffi::lua_pushcfunction(l, f),
            Field::Int(i) => ffi::lua_pushinteger(l, i),
            Field::Num(n) => ffi::lua_pushnumber(l, n),
            Field::Opened => return false,
        }
    }
    true
}

/// Opens library `LIB` for real and copies into the stub at index 1 every field it does
/// not have yet (one the program set stays); drops the stub's metatable.
///
/// # Safety
/// Called from a Lua C function with the stub at index 1 and room on the stack.
unsafe fn open_whole<const LIB: usize>(l: *mut lua_State) {
    // SAFETY: per the contract; the opener may raise (memory), with nothing owned here.
    unsafe {
        let top = ffi::lua_gettop(l);
        ffi::luaL_checkstack(l, 6, std::ptr::null());
        ffi::lua_pushcfunction(l, LIBS[LIB].1);
        ffi::lua_call(l, 0, 1);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pushvalue(l, -2);
            if ffi::lua_rawget(l, 1) == ffi::LUA_TNIL {
                ffi::lua_pop(l, 1);
                ffi::lua_pushvalue(l, -2);
                ffi::lua_insert(l, -2);
                ffi::lua_rawset(l, 1);
            } else {
                ffi::lua_pop(l, 2);
            }
        }
        ffi::lua_settop(l, top);
        ffi::lua_pushnil(l);
        ffi::lua_setmetatable(l, 1);
    }
}

/// `__index(stub, key)` of library `LIB`.
unsafe extern "C-unwind" fn l_index<const LIB: usize>(l: *mut lua_State) -> c_int {
    let cat = catalogue();
    // SAFETY: called by Lua with (stub, key); a string key is read without conversion;
    // `lua_rawset` may raise (memory) with nothing owned.
    unsafe {
        ffi::lua_settop(l, 2);
        if ffi::lua_type(l, 2) != ffi::LUA_TSTRING {
            return 0;
        }
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, 2, &mut len);
        let key = std::slice::from_raw_parts(p.cast::<u8>(), len);
        let Some(lib) = cat.libs.get(LIB) else {
            return 0;
        };
        let Some((_, f)) = lib.iter().find(|(n, _)| n.as_bytes() == key) else {
            if lib.is_empty() {
                open_whole::<LIB>(l); // no catalogue: the library itself
                ffi::lua_pushvalue(l, 2);
                ffi::lua_rawget(l, 1);
                return 1;
            }
            return 0;
        };
        if push(l, *f) {
            ffi::lua_pushvalue(l, 2);
            ffi::lua_pushvalue(l, 3);
            ffi::lua_rawset(l, 1);
        } else {
            open_whole::<LIB>(l);
            ffi::lua_pushvalue(l, 2);
            ffi::lua_rawget(l, 1);
        }
        1
    }
}

/// `__pairs(stub)` of library `LIB`: fills the stub, then iterates it as `pairs` would.
unsafe extern "C-unwind" fn l_pairs<const LIB: usize>(l: *mut lua_State) -> c_int {
    let cat = catalogue();
    // SAFETY: called by Lua with the stub at 1; pushes are consumed by `lua_rawset`.
    unsafe {
        ffi::lua_settop(l, 1);
        let lib = cat.libs.get(LIB).map_or(&[][..], Vec::as_slice);
        if lib.is_empty() || lib.iter().any(|(_, f)| matches!(f, Field::Opened)) {
            open_whole::<LIB>(l);
        } else {
            for (name, f) in lib {
                ffi::lua_pushstring(l, name.as_ptr());
                if ffi::lua_rawget(l, 1) == ffi::LUA_TNIL {
                    ffi::lua_pop(l, 1);
                    ffi::lua_pushstring(l, name.as_ptr());
                    push(l, *f);
                    ffi::lua_rawset(l, 1);
                } else {
                    ffi::lua_pop(l, 1);
                }
            }
            ffi::lua_pushnil(l);
            ffi::lua_setmetatable(l, 1);
        }
        match cat.next {
            Some(next) => ffi::lua_pushcfunction(l, next),
            None => {
                ffi::lua_getglobal(l, c"next".as_ptr());
            }
        }
        ffi::lua_pushvalue(l, 1);
        ffi::lua_pushnil(l);
        3
    }
}

/// Sets the five libraries (globals and `package.loaded`) to stubs, and the string
/// metatable (its metamethods, `__index` the `string` stub).
///
/// # Safety
/// `l` is a state with `package` open and none of these, called in protected mode.
pub(crate) unsafe fn install(l: *mut lua_State) {
    let cat = catalogue();
    let index: [lua_CFunction; 5] = [
        l_index::<0>,
        l_index::<1>,
        l_index::<2>,
        l_index::<3>,
        l_index::<4>,
    ];
    let pairs: [lua_CFunction; 5] = [
        l_pairs::<0>,
        l_pairs::<1>,
        l_pairs::<2>,
        l_pairs::<3>,
        l_pairs::<4>,
    ];
    // SAFETY: per the contract; every push is consumed.
    unsafe {
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_LOADED_TABLE);
        for (i, (name, _)) in LIBS.iter().enumerate() {
            // the stub, with room for the fields skynet's library reads as it loads (the
            // size those reads grow it to: no rehash on the way, no more memory)
            ffi::lua_createtable(l, 0, STUB_SIZES[i]);
            ffi::lua_createtable(l, 0, 2); // its metatable
            ffi::lua_pushcfunction(l, index[i]);
            ffi::lua_setfield(l, -2, c"__index".as_ptr());
            ffi::lua_pushcfunction(l, pairs[i]);
            ffi::lua_setfield(l, -2, c"__pairs".as_ptr());
            ffi::lua_setmetatable(l, -2);
            if i == STRING {
                ffi::lua_createtable(l, 0, cat.string_meta.len() as c_int + 1);
                // The metamethods copied from the template's string metatable (no name
                // interned), else set one by one.
                let copied = crate::vm::shared::template()
                    .is_some_and(|t| crate::vm::shared::copy_string_meta(l, t));
                if !copied {
                    for (n, f) in &cat.string_meta {
                        if push(l, *f) {
                            ffi::lua_setfield(l, -2, n.as_ptr());
                        }
                    }
                }
                ffi::lua_pushvalue(l, -2);
                ffi::lua_setfield(l, -2, c"__index".as_ptr());
                ffi::lua_pushstring(l, c"".as_ptr());
                ffi::lua_insert(l, -2);
                ffi::lua_setmetatable(l, -2);
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pushvalue(l, -1);
            ffi::lua_setfield(l, -3, name.as_ptr()); // package.loaded[name]
            ffi::lua_setglobal(l, name.as_ptr());
        }
        ffi::lua_pop(l, 1);
    }
}

#[cfg(test)]
mod tests {
    use crate::vm::LuaState;

    #[test]
    fn stubs_fill_on_read_and_on_pairs() {
        let s = LuaState::new().expect("a state");
        s.gc_restart();
        let ok: bool = s
            .load(
                r#"
                assert(rawget(string, "format") == nil)
                assert(string.format("%d", 3) == "3" and rawget(string, "format"))
                assert(("x"):rep(3) == "xxx" and ("10" + 1) == 11)
                assert(math.pi > 3 and math.maxinteger > 0 and math.type(1) == "integer")
                local mine = function() return 0 end
                math.floor = mine
                local r = math.random(1, 10) -- opens math whole (its generator)
                assert(r >= 1 and r <= 10 and getmetatable(math) == nil)
                assert(math.floor == mine and math.ceil(1.5) == 2)
                local n = 0
                for k, v in pairs(table) do n = n + 1 end
                assert(n >= 7 and getmetatable(table) == nil and table.concat({1, 2}) == "12")
                assert(debug.traceback("x"):find("stack traceback"))
                assert(coroutine.running() and package.loaded.coroutine == coroutine)
                assert(string.nothere == nil and math.nothere == nil)
                n = 0
                for k in pairs(debug) do n = n + 1 end
                assert(n >= 10)
                return true
                "#,
            )
            .eval()
            .expect("runs");
        assert!(ok);
    }
}
