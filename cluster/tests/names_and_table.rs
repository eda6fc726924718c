//! Cluster names (`register`, `unregister`, removal when the service ends) and the node
//! table read from the file named by the config key `cluster`.

mod util;

use skynet_cluster::{Cluster, Lookup};
use util::{game_node, node, run, wait_until};

#[test]
fn names_are_unregistered_by_hand_or_when_their_service_ends() {
    let (db, _log, kv, at) = util::db_node(&[]);
    let h = db.handle();
    assert!(
        skynet_cluster::register(&h, "sdb", kv).is_err(),
        "a name belongs to one service"
    );
    let other = db.launch(util::kv::Kv::default()).expect("kv");
    skynet_cluster::register(&h, "@other", other).expect("with or without the @");
    assert_eq!(Cluster::of(&h).lookup_name("other"), Some(other));
    let (game, _glog) = game_node(&format!("db = \"{at}\"\n"), &[]);
    let call = |name: &'static str| {
        run(&game, move |ctx| async move {
            skynet_cluster::call::<_, (String,)>(&ctx, "db", name, ("GET", "a"))
                .await
                .map_err(|e| e.to_string())
        })
    };
    assert_eq!(call("@other"), Ok(("foobar".to_string(),)));
    assert!(skynet_cluster::unregister(&h, "other"));
    assert!(!skynet_cluster::unregister(&h, "other"));
    assert!(call("@other").unwrap_err().contains("Invalid name"));
    // A service that ends takes its name with it.
    assert!(h.kill(kv));
    assert!(wait_until(|| Cluster::of(&h).lookup_name("sdb").is_none()));
    assert!(call("@sdb").unwrap_err().contains("Invalid name"));
    game.shutdown();
    db.shutdown();
}

#[test]
fn the_table_comes_from_the_cluster_file_and_open_takes_this_nodes_name() {
    let path =
        std::env::temp_dir().join(format!("skynet-cluster-table-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "me = \"127.0.0.1:0\"\nother = \"127.0.0.1:$SKYNET_TEST_OTHER_PORT\"\n",
    )
    .expect("write the table");
    std::env::set_var("SKYNET_TEST_OTHER_PORT", "4242");
    let file = path.display().to_string();
    let (n, log) = node(&[("cluster", file.as_str()), ("cluster_name", "me")]);
    let h = n.handle();
    let table = Cluster::of(&h).table();
    assert_eq!(table.lookup("other"), Lookup::At("127.0.0.1:4242"));
    let name = h.getenv("cluster_name").expect("set");
    let (_, at) = skynet_cluster::open(&h, &name).expect("opens the address of its own name");
    assert!(at.port() != 0);
    // Reload sees a changed file; a node not in the table cannot be opened.
    std::fs::write(&path, "me = \"127.0.0.1:0\"\n__nowaiting = true\n").expect("rewrite");
    skynet_cluster::reload(&h).expect("reloads");
    assert_eq!(
        Cluster::of(&h).table().lookup("other"),
        Lookup::Absent { nowaiting: true }
    );
    let e = skynet_cluster::open(&h, "other").unwrap_err();
    assert!(e.to_string().contains("not in the node table"), "{e}");
    // A broken file is an error naming it; the table in use stays.
    std::fs::write(&path, "me = 12\n").expect("rewrite");
    let e = skynet_cluster::reload(&h).unwrap_err();
    assert!(e.contains("`me`") && e.contains(&file), "{e}");
    assert_eq!(
        Cluster::of(&h).table().lookup("me"),
        Lookup::At("127.0.0.1:0")
    );
    n.shutdown();
    let _ = std::fs::remove_file(&path);
    assert!(util::unexpected_warnings(&log, &[]).is_empty());
}
