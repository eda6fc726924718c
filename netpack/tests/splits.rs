//! Property tests: every split of a byte stream decodes to the packets of the uncut stream,
//! for one decoder and for a filter with interleaved connections.

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use common::{cut, decode_chunks, reference, stream};
use proptest::collection::vec;
use proptest::prelude::*;
use skynet_netpack::{Filter, FilterResult};

/// Payloads mostly small, sometimes 255/256-ish, rarely near the maximum.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..8),
        4 => vec(any::<u8>(), 0..600),
        // Generating 65 KB of random bytes per case is slow in a debug build; a length and
        // a seed give the same coverage of the framing (content is opaque to the decoder).
        1 => (65_400usize..=65_535, any::<u8>())
            .prop_map(|(n, seed)| (0..n).map(|i| seed.wrapping_add(i as u8)).collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_cut_of_packets_decodes_the_same(
        packets in vec(payload(), 0..12),
        tail in vec(any::<u8>(), 0..4),
        points in vec(any::<usize>(), 0..40),
    ) {
        let mut wire = stream(&packets).to_vec();
        // An unfinished packet at the end: a prefix of one more framed payload.
        let extra = stream(&[vec![0xAB; 300]]);
        wire.extend_from_slice(&extra[..tail.len()]);
        let wire = Bytes::from(wire);

        let (expected, rest) = reference(&wire);
        prop_assert_eq!(&expected, &packets);
        let (whole, whole_rest) = decode_chunks(std::slice::from_ref(&wire));
        prop_assert_eq!(&whole, &packets);
        prop_assert_eq!(whole_rest, rest);
        let (split, split_rest) = decode_chunks(&cut(&wire, &points));
        prop_assert_eq!(&split, &packets);
        prop_assert_eq!(split_rest, rest);
    }

    #[test]
    fn handing_the_partial_to_a_new_decoder_mid_stream_loses_nothing(
        data in vec(any::<u8>(), 0..2000),
        points in vec(any::<usize>(), 0..40),
        handoff in any::<usize>(),
    ) {
        let data = Bytes::from(data);
        let (expected, _) = reference(&data);
        let chunks = cut(&data, &points);
        let at = handoff % (chunks.len() + 1);
        let (mut first, mut second) = (skynet_netpack::Decoder::new(), skynet_netpack::Decoder::new());
        let mut got = Vec::new();
        for c in &chunks[..at] {
            first.feed(c.clone(), &mut got);
        }
        let partial = first.take_partial();
        prop_assert!(first.is_idle());
        prop_assert!(partial.len() <= 65_536);
        second.feed(partial, &mut got);
        for c in &chunks[at..] {
            second.feed(c.clone(), &mut got);
        }
        let got: Vec<Vec<u8>> = got.iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn any_cut_of_random_bytes_decodes_the_same(
        data in vec(any::<u8>(), 0..2000),
        points in vec(any::<usize>(), 0..40),
    ) {
        let data = Bytes::from(data);
        let expected = reference(&data);
        prop_assert_eq!(decode_chunks(std::slice::from_ref(&data)), expected.clone());
        prop_assert_eq!(decode_chunks(&cut(&data, &points)), expected);
    }

    #[test]
    fn filter_with_interleaved_ids_decodes_each_stream(
        streams in vec((vec(payload(), 0..6), vec(any::<usize>(), 0..12)), 1..5),
        order in vec(any::<u8>(), 0..80),
    ) {
        // Each connection's stream, cut into reads.
        let mut reads: Vec<(u64, std::collections::VecDeque<Bytes>)> = streams
            .iter()
            .enumerate()
            .map(|(i, (packets, points))| {
                (i as u64 * 1_000_003, cut(&stream(packets), points).into())
            })
            .collect();
        let mut filter = Filter::new();
        let mut got: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        let mut feed = |filter: &mut Filter, id: u64, data: Bytes| {
            let out = got.entry(id).or_default();
            match filter.data(id, data) {
                FilterResult::None => {}
                FilterResult::Data(p) => out.push(p.to_vec()),
                FilterResult::More(more) => {
                    assert!(more.len() >= 2);
                    out.extend(more.map(|p| p.to_vec()));
                }
            }
        };
        // Interleave the reads of all connections, each connection's in its order.
        let mut order = order.into_iter();
        loop {
            let live: Vec<usize> =
                (0..reads.len()).filter(|&i| !reads[i].1.is_empty()).collect();
            if live.is_empty() {
                break;
            }
            let pick = live[usize::from(order.next().unwrap_or(0)) % live.len()];
            let (id, queue) = &mut reads[pick];
            let data = queue.pop_front().expect("live queue is non-empty");
            feed(&mut filter, *id, data);
            prop_assert!(filter.len() <= reads.len());
        }
        // Every connection sent data, so each has state; every stream was whole, so
        // nothing is left partial; closing them all empties the filter.
        prop_assert_eq!(filter.len(), streams.len());
        for (i, (packets, _)) in streams.iter().enumerate() {
            let id = i as u64 * 1_000_003;
            prop_assert_eq!(got.get(&id).cloned().unwrap_or_default(), packets.clone());
            prop_assert_eq!(filter.buffered_len(id), 0);
            prop_assert!(filter.close(id));
        }
        prop_assert!(filter.is_empty());
    }
}
