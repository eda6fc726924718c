//! What a caller sees when things go wrong, and how a node protects itself from its peers
//! (issue 15, item 3).

mod util;

use std::net::TcpListener;
use std::time::Duration;

use skynet_cluster::{Cluster, LinkState, NodeTable};
use skynet_runtime::CallError;
use util::{
    db_node, game_node, node, run, sender_info, spawn, unexpected_warnings, wait_until, Peer, LONG,
};

#[test]
fn a_dead_peer_fails_every_call_in_flight_at_once_and_the_next_call_reconnects() {
    let (db, _db_log, _kv, at) = db_node(&[]);
    let (game, game_log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    // Five calls the db will never answer, with no deadline at all.
    let hung: Vec<_> = (0..5)
        .map(|_| {
            spawn(&game, |ctx| async move {
                skynet_cluster::call::<_, ()>(&ctx, "db", "@sdb", ("HANG",)).await
            })
        })
        .collect();
    assert!(wait_until(
        || sender_info(&game, "db").is_some_and(|i| i.in_flight == 5)
    ));
    db.shutdown();
    for rx in hung {
        let err = rx
            .recv_timeout(LONG)
            .expect("fails, does not hang")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cluster node [db]") && text.contains(&at.to_string()),
            "{text}"
        );
    }
    assert_eq!(
        sender_info(&game, "db").map(|i| i.state),
        Some(LinkState::Idle)
    );

    // The node comes back on the same address: the next call connects again.
    let (db2, _log2) = node(&[]);
    let kv = db2.launch(util::kv::Kv::default()).expect("kv");
    skynet_cluster::register(&db2.handle(), "sdb", kv).expect("name");
    skynet_cluster::open(&db2.handle(), &at.to_string()).expect("listens again");
    let v = run(&game, |ctx| async move {
        skynet_cluster::call::<_, (String,)>(&ctx, "db", "@sdb", ("GET", "a")).await
    });
    assert_eq!(v, Ok(("foobar".to_string(),)));
    game.shutdown();
    db2.shutdown();
    assert_eq!(unexpected_warnings(&game_log, &[]), Vec::<String>::new());
}

#[test]
fn a_refused_connect_names_the_node_and_its_address() {
    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = free.local_addr().expect("addr");
    drop(free);
    let (game, _log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    for _ in 0..2 {
        let r = run(&game, |ctx| async move {
            skynet_cluster::call::<_, ()>(&ctx, "db", "@sdb", ("GET", "a")).await
        });
        let text = r.unwrap_err().to_string();
        assert!(text.contains("cluster node [db]"), "{text}");
        assert!(text.contains(&at.to_string()), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }
    game.shutdown();
}

#[test]
fn absent_and_down_nodes() {
    let (db, _db_log, _kv, at) = db_node(&[]);
    // Down, and absent with __nowaiting: errors at once.
    let (game, _log) = game_node("battle = false\n__nowaiting = true\n", &[]);
    let r = run(&game, |ctx| async move {
        let down = skynet_cluster::call::<_, ()>(&ctx, "battle", "@x", ()).await;
        let absent = skynet_cluster::call::<_, ()>(&ctx, "nowhere", "@x", ()).await;
        (
            down.unwrap_err().to_string(),
            absent.unwrap_err().to_string(),
        )
    });
    assert!(r.0.contains("cluster node [battle] is down"), "{}", r.0);
    assert!(r.1.contains("cluster node [nowhere] is absent"), "{}", r.1);
    game.shutdown();

    // Absent without it: the call waits, bounded by its deadline...
    let (game, _log) = game_node("", &[]);
    let r = run(&game, |ctx| async move {
        skynet_cluster::call_timeout::<_, ()>(&ctx, "late", "@sdb", (), Duration::from_millis(50))
            .await
    });
    assert!(matches!(r, Err(CallError::Timeout(..))), "{r:?}");
    // ...and goes out when a reload adds the node.
    let waiting = spawn(&game, |ctx| async move {
        skynet_cluster::call::<_, (String,)>(&ctx, "late", "@sdb", ("GET", "a")).await
    });
    assert!(wait_until(|| sender_info(&game, "late")
        .is_some_and(
            |i| i.state == LinkState::Waiting && i.requests == 0
        )));
    let table = NodeTable::parse(&format!("late = \"{at}\"\n")).expect("table");
    Cluster::of(&game.handle()).set_table(&game.handle(), table);
    let v = waiting.recv_timeout(LONG).expect("answered");
    assert_eq!(v, Ok(("foobar".to_string(),)));
    game.shutdown();
    db.shutdown();
}

#[test]
fn multi_part_messages_over_the_limit_or_past_their_total_cut_the_peer_off() {
    let (db, log, _kv, at) = db_node(&[("cluster_max_message", "100000")]);
    // A header announcing more than the limit.
    let mut a = Peer::connect(at);
    a.send(&[b"\x81\x04@sdb\x01\x00\x00\x00\x40\x0d\x03\x00"]); // 200,000 bytes
    assert!(a.closed());
    let me = a.0.local_addr().expect("addr").to_string();
    assert!(log
        .wait_for(&["cut off", &me, "over the limit"], LONG)
        .is_some());
    // Parts that run past their total.
    let mut b = Peer::connect(at);
    let mut part = b"\x02\x02\x00\x00\x00".to_vec();
    part.extend_from_slice(&[0x58; 60]);
    b.send(&[b"\x81\x04@sdb\x02\x00\x00\x00\x32\x00\x00\x00", &part]); // total 50
    assert!(b.closed());
    let me = b.0.local_addr().expect("addr").to_string();
    assert!(log.wait_for(&["cut off", &me, "runs past"], LONG).is_some());
    // Every other connection keeps being served.
    let mut c = Peer::connect(at);
    c.send(&[b"\x80\x04@sdb\x01\x00\x00\x00\x1cGET\x0ca"]);
    assert_eq!(c.recv().expect("reply"), b"\x01\x00\x00\x00\x01\x34foobar");
    db.shutdown();
    assert_eq!(
        unexpected_warnings(&log, &["cut off"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_peer_pipelining_faster_than_it_is_answered_is_cut_off() {
    let (db, log, _kv, at) = db_node(&[("cluster_max_pending", "8")]);
    let mut flood = Peer::connect(at);
    let mut frames = Vec::new();
    for s in 1..=20u32 {
        let mut f = b"\x80\x04@sdb".to_vec();
        f.extend_from_slice(&s.to_le_bytes());
        f.extend_from_slice(b"\x24HANG");
        frames.push(f);
    }
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    flood.send(&refs);
    assert!(flood.closed());
    let me = flood.0.local_addr().expect("addr").to_string();
    assert!(log
        .wait_for(&["cut off", &me, "unanswered"], LONG)
        .is_some());
    let mut other = Peer::connect(at);
    other.send(&[b"\x80\x04@sdb\x01\x00\x00\x00\x1cGET\x0ca"]);
    assert_eq!(
        other.recv().expect("reply"),
        b"\x01\x00\x00\x00\x01\x34foobar"
    );
    db.shutdown();
    assert_eq!(
        unexpected_warnings(&log, &["cut off"]),
        Vec::<String>::new()
    );
}

#[test]
fn the_allow_list_closes_other_peers_at_accept() {
    let (db, log, _kv, at) = db_node(&[("cluster_allow", "10.0.0.0/8, 192.168.0.0/16")]);
    let mut p = Peer::connect(at);
    assert!(p.closed());
    assert!(log
        .wait_for(&["refused 127.0.0.1:", "not in cluster_allow"], LONG)
        .is_some());
    db.shutdown();
    assert_eq!(
        unexpected_warnings(&log, &["not in cluster_allow"]),
        Vec::<String>::new()
    );

    let (db, log, _kv, at) = db_node(&[("cluster_allow", "127.0.0.0/8")]);
    let mut p = Peer::connect(at);
    p.send(&[b"\x80\x04@sdb\x01\x00\x00\x00\x1cGET\x0ca"]);
    assert_eq!(p.recv().expect("reply"), b"\x01\x00\x00\x00\x01\x34foobar");
    db.shutdown();
    assert_eq!(unexpected_warnings(&log, &[]), Vec::<String>::new());
    // A bad list is refused when the port opens.
    let (n, log) = node(&[("cluster_allow", "10.0.0.0/40")]);
    n.handle().enter_thread(); // this thread's log lines go to the node's (captured) logger
    let e = skynet_cluster::open(&n.handle(), "127.0.0.1:0").unwrap_err();
    assert!(e.to_string().contains("cluster_allow"), "{e}");
    assert!(log
        .wait_for(&["ERROR", "cluster_allow", "10.0.0.0/40"], LONG)
        .is_some());
    n.shutdown();
}

#[test]
fn bad_frames_are_dropped_and_the_connection_stays_usable() {
    let (db, log, _kv, at) = db_node(&[]);
    let mut p = Peer::connect(at);
    p.send(&[
        b"\x05abc",                          // unknown type
        b"",                                 // zero-length frame
        b"\x00\x0a\x00\x00\x00",             // a 5-byte 00 request
        b"\x02\x09\x00\x00\x00xyz",          // a part of no message
        b"\x01\x0a\x00\x00\x00\x02\x00\x00", // a 01 header that is not 13 bytes
    ]);
    // A request whose payload does not unpack gets an error, not silence (skynet: silence).
    p.send(&[b"\x80\x04@sdb\x03\x00\x00\x00\x07"]);
    let r = p.recv().expect("reply");
    assert_eq!(&r[..5], b"\x03\x00\x00\x00\x00");
    assert!(String::from_utf8_lossy(&r[5..]).contains("Invalid serialize stream"));
    // A multi-part request shorter than announced: skynet's `Invalid large req`.
    p.send(&[
        b"\x81\x04@sdb\x04\x00\x00\x00\x40\x9c\x00\x00",
        b"\x03\x04\x00\x00\x000123456789",
    ]);
    assert_eq!(
        p.recv().expect("reply"),
        b"\x04\x00\x00\x00\x00Invalid large req"
    );
    // A bare name: skynet never answers it; we do.
    p.send(&[b"\x80\x03sdb\x05\x00\x00\x00\x1cGET\x0ca"]);
    assert_eq!(
        p.recv().expect("reply"),
        b"\x05\x00\x00\x00\x00Invalid name"
    );
    // Still in business.
    p.send(&[b"\x80\x04@sdb\x06\x00\x00\x00\x1cGET\x0ca"]);
    assert_eq!(p.recv().expect("reply"), b"\x06\x00\x00\x00\x01\x34foobar");
    for what in [
        "invalid package type 5",
        "frame of 0 bytes",
        "at least 9 needed",
        "part of unknown session 9",
        "wrong size",
        "40000 announced",
    ] {
        assert!(log.wait_for(&["WARN", what], LONG).is_some(), "{what}");
    }
    db.shutdown();
    assert_eq!(
        unexpected_warnings(&log, &["frame dropped", "unknown session", "announced"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_bad_reply_frame_fails_the_calls_on_that_connection_and_the_next_call_reconnects() {
    // A fake node that answers its first connection's first request with a frame of type 9.
    let fake = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = fake.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (s, _) = fake.accept().expect("accept");
        let mut p = Peer(s);
        p.0.set_read_timeout(Some(LONG)).expect("timeout");
        let req = p.recv().expect("a request");
        let session = &req[4..8]; // 80 02 "@x" session
        let mut bad = vec![0u8, 5];
        bad.extend_from_slice(session);
        bad.push(9);
        p.0.write_all(&bad).expect("write");
        // The second connection is answered properly.
        let (s, _) = fake.accept().expect("accept again");
        let mut p = Peer(s);
        p.0.set_read_timeout(Some(LONG)).expect("timeout");
        let req = p.recv().expect("a request");
        let mut ok = req[4..8].to_vec();
        ok.extend_from_slice(b"\x01\x0a\x07");
        p.send(&[&ok]);
        let _ = p.closed();
    });
    let (game, log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    let r = run(&game, |ctx| async move {
        let first = skynet_cluster::call::<_, (i64,)>(&ctx, "db", "@x", ()).await;
        let second = skynet_cluster::call::<_, (i64,)>(&ctx, "db", "@x", ()).await;
        (first.map_err(|e| e.to_string()), second)
    });
    assert!(
        r.0.as_ref().unwrap_err().contains("bad reply frame"),
        "{:?}",
        r.0
    );
    assert_eq!(r.1, Ok((7,)));
    game.shutdown();
    server.join().expect("fake node");
    assert_eq!(
        unexpected_warnings(&log, &["bad reply frame"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_sender_forgets_calls_whose_deadline_passed() {
    let (db, _db_log, _kv, at) = db_node(&[]);
    let (game, _log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    let r = run(&game, |ctx| async move {
        let d = Duration::from_millis(20);
        skynet_cluster::call_timeout::<_, ()>(&ctx, "db", "@sdb", ("HANG",), d).await
    });
    assert!(matches!(r, Err(CallError::Timeout(..))), "{r:?}");
    // The sender drops the call it will never get an answer for (within its sweep).
    assert!(wait_until(
        || sender_info(&game, "db").is_some_and(|i| i.in_flight == 0)
    ));
    game.shutdown();
    db.shutdown();
}

#[test]
fn a_reload_moves_a_node_down_and_back() {
    let (db, _db_log, _kv, at) = db_node(&[]);
    let (game, log) = game_node(&format!("db = \"{at}\"\n"), &[]);
    let get = |game: &skynet_runtime::Node| {
        run(game, |ctx| async move {
            skynet_cluster::call::<_, (String,)>(&ctx, "db", "@sdb", ("GET", "a"))
                .await
                .map_err(|e| e.to_string())
        })
    };
    assert_eq!(get(&game), Ok(("foobar".to_string(),)));
    let h = game.handle();
    let down = NodeTable::parse("db = false\n").expect("table");
    Cluster::of(&h).set_table(&h, down);
    assert!(wait_until(
        || sender_info(&game, "db").is_some_and(|i| i.state == LinkState::Down)
    ));
    let e = get(&game).unwrap_err();
    assert!(e.ends_with("cluster node [db] is down"), "{e}");
    let back = NodeTable::parse(&format!("db = \"{at}\"\n")).expect("table");
    Cluster::of(&h).set_table(&h, back);
    assert_eq!(get(&game), Ok(("foobar".to_string(),)));
    game.shutdown();
    db.shutdown();
    assert_eq!(unexpected_warnings(&log, &[]), Vec::<String>::new());
}
