/*
** skynet-rs: function prototypes shared between states.
**
** Not part of Lua: added by skynet-rs (see ../../README.md). One state of
** the process, the "template", loads the chunks every state needs and is
** then frozen by 'lua_sharedfreeze': every object it holds is marked
** SHAREDBIT, gray and old forever (lgc.h), and its string table is
** published, read-only. A state made afterwards with the template's seed
** finds the template's strings before its own (lstring.c), and
** 'lua_sharedclone' gives it a closure over one of the template's
** prototypes: the prototype, its nested prototypes, its code, constants
** and debug information are the template's, never copied.
**
** Why this is safe: a gray object is never marked again (marking starts
** only from white objects), is in no list of another state (so never
** swept or freed by it), and no barrier fires on it (barriers need a black
** object pointing to a white one). Nothing writes to a prototype after it
** is built; the writes to strings after creation are the lexer's reserved
** word flags (skipped for shared strings, llex.c) and a long string's lazy
** hash (computed here, before publishing). The template is never run,
** collected or closed after freezing.
** See Copyright Notice in lua.h (this file: same license, skynet-rs).
*/

#define lshared_c
#define LUA_CORE

#include "lprefix.h"

#include "lua.h"

#include "lapi.h"
#include "lfunc.h"
#include "lgc.h"
#include "lobject.h"
#include "lstate.h"
#include "lstring.h"
#include "ltable.h"


/* the published string table, the seed it was hashed with, and the
   template's global state (its fixed strings: tag-method names) */
static const stringtable *sharedstrt = NULL;
static unsigned sharedseed = 0;
static const global_State *sharedg = NULL;


/*
** The template's string table, if one is published and 'seed' is its seed.
** Called by 'lua_newstate' (any thread); the table was published with a
** release store after the seed, so an acquire load sees both complete.
*/
const stringtable *luaS_sharedtable (unsigned seed) {
#if defined(__GNUC__) || defined(__clang__)
  const stringtable *t = __atomic_load_n(&sharedstrt, __ATOMIC_ACQUIRE);
#else
  const stringtable *t = sharedstrt;  /* publish before other threads start */
#endif
  return (t != NULL && seed == sharedseed) ? t : NULL;
}


/*
** The template's global state; valid once a state got a table from
** 'luaS_sharedtable' (set before the table is published).
*/
const global_State *luaS_sharedglobal (void) {
  return sharedg;
}


/* marks every object of list 'o' shared, gray and old */
static void freezelist (GCObject *o) {
  for (; o != NULL; o = o->next) {
    if (o->tt == LUA_VLNGSTR)  /* compute the lazy hash now (read-only later) */
      luaS_hashlongstr(gco2ts(o));
    o->marked = cast_byte((o->marked & ~(WHITEBITS | bitmask(BLACKBIT) |
                                         AGEBITS)) |
                          bitmask(SHAREDBIT) | G_OLD);
  }
}


/*
** Freezes 'L' (a main thread made with lua_newstate, no state made with its
** seed yet): a full collection, the collector stopped for good, every
** object shared, and the string table published. Only once per process.
** Returns 0, or -1 (nothing done) when a table is already published, 'L'
** itself uses one, or the collector is in generational mode.
** May run finalizers (in the full collection): call it in protected mode.
** 'L' must never run code, be collected or be closed afterwards.
*/
LUA_API int lua_sharedfreeze (lua_State *L) {
  global_State *g = G(L);
  lua_lock(L);
  if (luaS_sharedtable(g->seed) != NULL || g->sharedstrt != NULL ||
      g->gckind != KGC_INC) {
    lua_unlock(L);
    return -1;
  }
#if LUA_COMPAT_GLOBAL
  /* the lexer clears "global"'s reserved-word flag each time it starts
     (llex.c), which it cannot do on a shared string: do it once here */
  luaS_newliteral(L, "global")->extra = 0;
#endif
  luaC_fullgc(L, 0);  /* garbage goes; all objects white, in the lists */
  g->gcstp = GCSTPUSR;  /* no collection, ever */
  freezelist(g->allgc);
  freezelist(g->finobj);
  freezelist(g->tobefnz);
  freezelist(g->fixedgc);
  sharedseed = g->seed;
  sharedg = g;
#if defined(__GNUC__) || defined(__clang__)
  __atomic_store_n(&sharedstrt, &g->strt, __ATOMIC_RELEASE);
#else
  sharedstrt = &g->strt;
#endif
  lua_unlock(L);
  return 0;
}


/*
** The prototype of the Lua function at 'idx' of the frozen template 'L'
** (NULL when it is not a Lua function, or not shared yet). Valid for the
** life of the process.
*/
LUA_API const void *lua_sharedproto (lua_State *L, int idx) {
  const LClosure *cl;
  if (lua_type(L, idx) != LUA_TFUNCTION || lua_iscfunction(L, idx))
    return NULL;
  /* lua_topointer gives the closure object of a Lua function */
  cl = cast(const LClosure *, lua_topointer(L, idx));
  if (cl->tt != LUA_VLCL || cl->p == NULL || !isshared(cl->p))
    return NULL;
  return cl->p;
}


/*
** Pushes onto 'L' a new Lua closure over the shared prototype 'proto' (from
** lua_sharedproto), with fresh upvalues, the first one set to L's globals
** as lua_load does for a main chunk. Returns 1, or 0 (nothing pushed) when
** 'L' does not use the template's strings or 'proto' is not shared. Needs
** one free stack slot; raises a memory error: call it in protected mode.
*/
LUA_API int lua_sharedclone (lua_State *L, const void *proto) {
  Proto *p = cast(Proto *, proto);
  LClosure *cl;
  lua_lock(L);
  if (G(L)->sharedstrt == NULL || p == NULL || p->tt != LUA_VPROTO ||
      !isshared(p)) {
    lua_unlock(L);
    return 0;
  }
  luaC_checkGC(L);
  cl = luaF_newLclosure(L, p->sizeupvalues);
  setclLvalue2s(L, L->top.p, cl);  /* anchor it */
  api_incr_top(L);
  cl->p = p;  /* gray: no barrier needed (and none would fire) */
  luaF_initupvals(L, cl);
  if (cl->nupvalues >= 1) {  /* first upvalue: the globals (_ENV) */
    TValue gt;
    Table *registry = hvalue(&G(L)->l_registry);
    luaH_getint(registry, LUA_RIDX_GLOBALS, &gt);
    setobj(L, cl->upvals[0]->v.p, &gt);
    luaC_barrier(L, cl->upvals[0], &gt);
  }
  lua_unlock(L);
  return 1;
}


/*
** Enters generational mode; without a collection (every object taken as
** alive and made old) when the state never started a collection cycle:
** a new state that loaded only what it keeps. See 'luaC_entergenall'.
** Never raises (no allocation; finalizers pending, if any, run protected
** as in 'lua_gc').
*/
LUA_API void lua_sharedgen (lua_State *L) {
  lua_lock(L);
  if (!(G(L)->gcstp & (GCSTPGC | GCSTPCLS)))  /* as 'lua_gc' */
    luaC_entergenall(L);
  lua_unlock(L);
}


/*
** Sets in the table at the top of 'L' every field of 'from' (a table of
** the frozen template, from 'lua_topointer' before the freeze) whose key
** is a short string and whose value is not an object of the template
** (a light C function, a number, a boolean) or is a shared string: what
** the base library puts in the globals, without interning a name or
** calling 'luaopen_base'. Only reads the template. Returns 0 (nothing
** set) in a state that does not use the template's strings. May raise
** (memory): call it in protected mode.
*/
LUA_API int lua_sharedcopy (lua_State *L, const void *from) {
  const Table *f = (const Table *)from;
  Table *t;
  unsigned int i, n;
  lua_lock(L);
  api_check(L, ttistable(s2v(L->top.p - 1)), "table expected");
  if (G(L)->sharedstrt == NULL || f == NULL) {
    lua_unlock(L);
    return 0;
  }
  t = hvalue(s2v(L->top.p - 1));
  n = cast_uint(sizenode(f));
  for (i = 0; i < n; i++) {
    const Node *nd = gnode(f, i);
    TValue v;
    TValue k;
    if (isempty(gval(nd)) || !keyisshrstr(nd))
      continue;
    if (iscollectable(gval(nd)) &&
        !(ttisstring(gval(nd)) && isshared(gcvalue(gval(nd)))))
      continue;  /* an object of the template: not shared */
    setobj(L, &v, gval(nd));
    setsvalue(L, &k, keystrval(nd));
    luaH_set(L, t, &k, &v);  /* no barrier: nothing here is white */
  }
  lua_unlock(L);
  return 1;
}
