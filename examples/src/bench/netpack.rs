//! `bench netpack`: client-packet decode throughput, no sockets involved.
//!
//! ```text
//! bench netpack [--mib 64] [--read-max 65536] [--seconds 1.0] [--seed 1]
//! ```
//!
//! For 64-byte and 4 KiB payloads it frames a `--mib` MiB stream, cuts it into reads of
//! random sizes (uniform in 1..=`--read-max`, from a xorshift PRNG) the way a socket would
//! deliver them, then decodes the reads with one `Decoder` over and over for `--seconds`
//! per case. Packets that arrive whole are slices of their read (no copy); only the ones
//! cut by a read boundary are copied once.
//!
//! Prints one JSON line: `ops_per_sec` is packets per second for 64-byte payloads;
//! `pkts_per_sec_64`/`_4k` are packets per second and `mb_per_sec_64`/`_4k` are
//! megabytes (10^6) of wire stream, headers included, per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use skynet_netpack::{pack_into, Decoder, HEADER_LEN};

use super::args::arg;
use super::json::JsonLine;

/// xorshift64: deterministic and dependency-free.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `1..=max`.
    fn size(&mut self, max: usize) -> usize {
        1 + (self.next() % max.max(1) as u64) as usize
    }
}

/// One case's input: the stream's reads, and how many packets and bytes it holds.
struct Case {
    reads: Vec<Bytes>,
    packets: usize,
    bytes: usize,
}

/// Frames packets of `payload` bytes (random content) up to about `total` bytes and cuts
/// the stream into reads of random sizes.
fn case(payload: usize, total: usize, read_max: usize, rng: &mut XorShift) -> Case {
    let body: Vec<u8> = (0..payload).map(|_| rng.next() as u8).collect();
    let packets = (total / (payload + HEADER_LEN)).max(1);
    let mut wire = BytesMut::with_capacity(packets * (payload + HEADER_LEN));
    for _ in 0..packets {
        pack_into(&body, &mut wire).expect("bench payloads are at most 4 KiB");
    }
    let wire = wire.freeze();
    let mut reads = Vec::with_capacity(wire.len() / (read_max / 2).max(1) + 1);
    let mut at = 0;
    while at < wire.len() {
        let end = (at + rng.size(read_max)).min(wire.len());
        reads.push(wire.slice(at..end));
        at = end;
    }
    Case {
        reads,
        packets,
        bytes: wire.len(),
    }
}

/// Decodes every read of `case` once; returns the packets seen and their payload bytes.
fn pass(case: &Case, out: &mut Vec<Bytes>) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let (mut packets, mut payload) = (0, 0);
    for read in &case.reads {
        decoder.feed(read.clone(), out);
        packets += out.len();
        payload += out.iter().map(Bytes::len).sum::<usize>();
        black_box(&out);
        out.clear();
    }
    (packets, payload)
}

/// Decodes `case` repeatedly for about `seconds`; returns (packets/s, MB/s of wire).
fn measure(case: &Case, payload_len: usize, seconds: f64) -> (f64, f64) {
    let mut out = Vec::with_capacity(1024);
    // Warm up and check the decode once.
    let (packets, payload) = pass(case, &mut out);
    assert_eq!(packets, case.packets, "decoded packet count");
    assert_eq!(payload, case.packets * payload_len, "decoded payload bytes");

    let budget = Duration::from_secs_f64(seconds.max(0.01));
    let start = Instant::now();
    let mut passes = 0u64;
    while start.elapsed() < budget {
        black_box(pass(case, &mut out));
        passes += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let pkts = passes as f64 * case.packets as f64 / secs;
    let mb = passes as f64 * case.bytes as f64 / secs / 1e6;
    (pkts, mb)
}

/// Runs the benchmark and prints its JSON line.
pub fn run(args: &[String]) {
    let mib: usize = arg(args, "--mib", 64);
    let read_max: usize = arg(args, "--read-max", 65536);
    let seconds: f64 = arg(args, "--seconds", 1.0);
    let mut rng = XorShift::new(arg(args, "--seed", 1));
    let total = mib.max(1) << 20;

    let small = case(64, total, read_max, &mut rng);
    let (pkts_64, mb_64) = measure(&small, 64, seconds);
    drop(small);
    let large = case(4096, total, read_max, &mut rng);
    let (pkts_4k, mb_4k) = measure(&large, 4096, seconds);

    let mut line = JsonLine::new("netpack");
    line.num("ops_per_sec", pkts_64.round())
        .num("pkts_per_sec_64", pkts_64.round())
        .num("mb_per_sec_64", mb_64)
        .num("pkts_per_sec_4k", pkts_4k.round())
        .num("mb_per_sec_4k", mb_4k)
        .num("stream_mib", mib as f64)
        .num("read_max", read_max as f64);
    println!("{}", line.finish());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_decode_completely() {
        let mut rng = XorShift::new(7);
        for payload in [64, 4096] {
            let c = case(payload, 1 << 16, 300, &mut rng);
            assert!(c.reads.len() > 1);
            let mut out = Vec::new();
            assert_eq!(pass(&c, &mut out), (c.packets, c.packets * payload));
        }
    }
}
