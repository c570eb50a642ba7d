//! Tamper evidence: a copy of an embedded log with one thing changed is caught, precisely;
//! the untouched log passes with a stable digest. Plus export and history.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use event_log::embedded::EmbeddedLog;
use event_log::{
    Headers, Log, LogReader, LogWriter, OutgoingRecord, StoredRecord, Topic, Topics,
    CONTENT_TYPE_BINCODE,
};
use order_events::codec::{self, RawEvent};
use order_events::envelope::{Event, EventEnvelope};
use order_events::ledger::MemoryLedger;
use order_events::order::{OrderEvent, RefundIssued, RefundReason};
use order_events::simulation::{Shop, ShopConfig};
use order_events::{Amount, Policy};
use replay_tool::rebuild::RebuildOptions;
use replay_tool::{BreakKind, ExportFormat, Start, TimeRange};

/// The sealed events of a seeded shop run, in decision order.
fn shop_events(seed: u64, orders: u32) -> Vec<Keyed> {
    let mut shop = Shop::new(
        seed,
        ShopConfig {
            orders,
            wave_size: 20,
            ..ShopConfig::default()
        },
        Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap(),
    );
    let policy = Policy {
        payment_window_minutes: 120,
        ..Policy::default()
    };
    let mut ledger = MemoryLedger::new(policy);
    let mut records = Vec::new();
    let mut keep = |steps: Vec<order_events::ledger::Step>| {
        for (_, outcome) in steps {
            for sealed in outcome.unwrap_or_default() {
                records.push((sealed.envelope.aggregate_id, sealed.record));
            }
        }
    };
    let mut now = shop.start();
    for command in shop.opening_stock(now) {
        keep(ledger.submit_with_process(&command, now));
    }
    while let Some(next) = shop.next_time() {
        now = next;
        keep(ledger.fire_timers(now));
        for command in shop.step(now, &|id| ledger.order(&id).cloned()) {
            keep(ledger.submit_with_process(&command, now));
        }
    }
    keep(ledger.fire_timers(now + chrono::Duration::days(30)));
    records
}

/// A record to append: the key (the aggregate id) and the bytes.
type Keyed = (String, Vec<u8>);

fn outgoing(log: &dyn Log, (key, payload): Keyed) -> OutgoingRecord {
    OutgoingRecord::new(
        log.topics().name(Topic::Events),
        key,
        Headers::for_message(CONTENT_TYPE_BINCODE, "event", 1),
        payload,
    )
}

/// A fresh embedded log holding `payloads` in order.
async fn log_of(dir: &tempfile::TempDir, name: &str, payloads: Vec<Keyed>) -> EmbeddedLog {
    let log = EmbeddedLog::open(&dir.path().join(name), Topics::new("audit", 4).unwrap()).unwrap();
    let records = payloads.into_iter().map(|p| outgoing(&log, p)).collect();
    log.publish(records).await.unwrap();
    log
}

async fn all_records(log: &dyn Log) -> Vec<StoredRecord> {
    let mut records = Vec::new();
    replay_tool::scan(log, |r| {
        records.push(r.clone());
        Ok(())
    })
    .await
    .unwrap();
    records
}

fn decoded(payload: &[u8]) -> EventEnvelope {
    codec::decode_event(payload).unwrap()
}

/// Re-encodes an event record with a different event, keeping (`fix_hash` false) or
/// recomputing its stored hash.
fn reencode(payload: &[u8], event: &Event, fix_hash: bool) -> Vec<u8> {
    let mut raw: RawEvent = codec::decode_raw_event(payload).unwrap();
    raw.event.payload = codec::encode_event_payload(event);
    let (mut record, _) = codec::encode_raw_event(&raw);
    if !fix_hash {
        let len = record.len();
        record[len - 32..].copy_from_slice(&payload[payload.len() - 32..]);
    }
    record
}

/// `verify`, checked against a run that keeps one aggregate state and one chain head in
/// memory and the rest in its scratch directory: both must report the same.
async fn verify_in_little_memory(
    log: &dyn Log,
) -> Result<replay_tool::VerifyReport, replay_tool::ReplayError> {
    let report = replay_tool::verify(log).await?;
    let partitions = log.partitions(Topic::Events) as usize;
    let mut verifier = replay_tool::Verifier::default()
        .with_memory_limits(1, 1)
        .witnessing(partitions, None);
    replay_tool::scan(log, |record| verifier.check(record)).await?;
    assert_eq!(
        verifier.finish()?,
        report,
        "the same report in little memory"
    );
    Ok(report)
}

#[tokio::test]
async fn the_untouched_log_passes_and_every_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0xa0d1, 60);
    let original = log_of(&dir, "original", payloads.clone()).await;
    let report = verify_in_little_memory(&original).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.breaks);
    assert_eq!(report.events, payloads.len() as u64);
    // The same log gives the same digest, run after run and copy after copy.
    assert_eq!(
        verify_in_little_memory(&original).await.unwrap().digest,
        report.digest
    );
    let copy = log_of(&dir, "copy", payloads.clone()).await;
    assert_eq!(
        verify_in_little_memory(&copy).await.unwrap().digest,
        report.digest
    );

    let records = all_records(&original).await;
    // Pick an order with a capture that is neither its first nor its last event.
    let by_aggregate: BTreeMap<String, Vec<usize>> =
        records
            .iter()
            .enumerate()
            .fold(BTreeMap::new(), |mut map, (i, r)| {
                map.entry(decoded(&r.payload).aggregate_id)
                    .or_default()
                    .push(i);
                map
            });
    let (capture_index, order_indexes) = by_aggregate
        .values()
        .find_map(|indexes| {
            indexes[1..indexes.len() - 1]
                .iter()
                .find(|&&i| {
                    matches!(
                        decoded(&records[i].payload).event,
                        Event::Order(OrderEvent::PaymentCaptured(_))
                    )
                })
                .map(|&i| (i, indexes.clone()))
        })
        .expect("an order with a capture in the middle");
    let position = order_indexes
        .iter()
        .position(|&i| i == capture_index)
        .unwrap();
    let next_index = order_indexes[position + 1];
    let at = |index: usize| (records[index].partition, records[index].offset);
    let breaks_of = |report: &replay_tool::VerifyReport| -> Vec<(BreakKind, u32, u64)> {
        report
            .breaks
            .iter()
            .map(|b| (b.kind, b.partition, b.offset))
            .collect()
    };
    let tampered = |change: &dyn Fn(&mut Vec<Keyed>)| {
        let mut copy: Vec<Keyed> = records
            .iter()
            .map(|r| {
                (
                    String::from_utf8(r.key.clone().unwrap()).unwrap(),
                    r.payload.clone(),
                )
            })
            .collect();
        change(&mut copy);
        copy
    };
    // Records are republished in the original's partition order, so offsets stay comparable
    // (a deletion shifts the later offsets of its partition by one).

    // 1. A flipped byte in a payload.
    let flipped = tampered(&|copy| {
        let middle = copy[capture_index].1.len() / 2;
        copy[capture_index].1[middle] ^= 0x01;
    });
    let report = verify_in_little_memory(&log_of(&dir, "flipped", flipped).await)
        .await
        .unwrap();
    let (p, o) = at(capture_index);
    assert!(
        breaks_of(&report).contains(&(BreakKind::HashMismatch, p, o))
            || breaks_of(&report).contains(&(BreakKind::Undecodable, p, o)),
        "{:?}",
        report.breaks
    );
    // Reported once, where it happened: the chain is followed on through its stored hash.
    assert_eq!(report.breaks.len(), 1, "{:?}", report.breaks);
    let (np, no) = at(next_index);

    // 2. An amount changed and re-encoded without fixing the hash.
    let mut captured = decoded(&records[capture_index].payload).event;
    if let Event::Order(OrderEvent::PaymentCaptured(e)) = &mut captured {
        e.amount = Amount(e.amount.0 + rust_decimal::Decimal::ONE);
    }
    let changed = tampered(&|copy| {
        copy[capture_index].1 = reencode(&records[capture_index].payload, &captured, false)
    });
    let report = verify_in_little_memory(&log_of(&dir, "changed", changed).await)
        .await
        .unwrap();
    assert_eq!(
        breaks_of(&report),
        vec![(BreakKind::HashMismatch, p, o)],
        "{:?}",
        report.breaks
    );

    // 3. The same change with the hash recomputed: the next event's link catches it.
    let rehashed = tampered(&|copy| {
        copy[capture_index].1 = reencode(&records[capture_index].payload, &captured, true)
    });
    let report = verify_in_little_memory(&log_of(&dir, "rehashed", rehashed).await)
        .await
        .unwrap();
    assert!(
        breaks_of(&report).contains(&(BreakKind::ChainBroken, np, no)),
        "{:?}",
        report.breaks
    );
    let broken = report
        .breaks
        .iter()
        .find(|b| b.kind == BreakKind::ChainBroken)
        .unwrap();
    assert_eq!(
        broken.sequence,
        Some(decoded(&records[next_index].payload).sequence)
    );
    assert!(broken.aggregate.as_ref().unwrap().starts_with("order:"));

    // 4. An event deleted: a gap at the next one, expected and found named.
    let deleted = tampered(&|copy| {
        copy.remove(capture_index);
    });
    let report = verify_in_little_memory(&log_of(&dir, "deleted", deleted).await)
        .await
        .unwrap();
    let gap = report
        .breaks
        .iter()
        .find(|b| b.kind == BreakKind::SequenceGap)
        .expect("a gap");
    let capture_sequence = decoded(&records[capture_index].payload).sequence;
    assert_eq!(gap.expected, format!("sequence {capture_sequence}"));
    assert_eq!(gap.found, format!("sequence {}", capture_sequence + 1));
    assert_eq!(gap.partition, np);
    assert_eq!(gap.offset, no - 1, "the next event moved up one offset");

    // 5. Two events of the aggregate swapped.
    let swapped = tampered(&|copy| copy.swap(capture_index, next_index));
    let report = verify_in_little_memory(&log_of(&dir, "swapped", swapped).await)
        .await
        .unwrap();
    let kinds: Vec<BreakKind> = report.breaks.iter().map(|b| b.kind).collect();
    assert!(
        kinds.contains(&BreakKind::SequenceGap) && kinds.contains(&BreakKind::SequenceOutOfOrder),
        "{:?}",
        report.breaks
    );
    assert_eq!(report.breaks[0].offset, at(capture_index).1);

    // 6. A well-chained event that does not fit: a refund above what was captured.
    let last = decoded(&records[*order_indexes.last().unwrap()].payload);
    let mut raw =
        codec::decode_raw_event(&records[*order_indexes.last().unwrap()].payload).unwrap();
    let refund = Event::Order(OrderEvent::RefundIssued(RefundIssued {
        refund_id: "rf-forged".into(),
        amount: Amount(rust_decimal::Decimal::from(1_000_000)),
        reason: RefundReason::Goodwill,
        psp_reference: "forged".into(),
    }));
    raw.event_id = uuid::Uuid::from_u128(0xf0_26ed);
    raw.sequence = last.sequence + 1;
    raw.prev_hash = last.hash;
    // Stamped after every event of the log, so only its content breaks a rule.
    raw.recorded_at = records
        .iter()
        .map(|record| decoded(&record.payload).recorded_at)
        .max()
        .expect("a log with events");
    raw.event.event_type = "RefundIssued".into();
    raw.event.payload = codec::encode_event_payload(&refund);
    let (forged, _) = codec::encode_raw_event(&raw);
    let appended = tampered(&|copy| copy.push((last.aggregate_id.clone(), forged.clone())));
    let report = verify_in_little_memory(&log_of(&dir, "forged", appended).await)
        .await
        .unwrap();
    assert_eq!(report.breaks.len(), 1, "{:?}", report.breaks);
    assert!(
        matches!(
            report.breaks[0].kind,
            BreakKind::IllegalTransition | BreakKind::InvariantBroken
        ),
        "{:?}",
        report.breaks
    );
    assert!(
        report.breaks[0].found.contains("refund"),
        "{:?}",
        report.breaks
    );

    // 7. Two events with one id: the order's last event re-encoded (hash fixed, nothing chains
    // after it) under the id of the capture.
    let last_index = *order_indexes.last().unwrap();
    let mut raw = codec::decode_raw_event(&records[last_index].payload).unwrap();
    raw.event_id = decoded(&records[capture_index].payload).event_id;
    let (reused, _) = codec::encode_raw_event(&raw);
    let twice = tampered(&|copy| copy[last_index].1 = reused.clone());
    let report = verify_in_little_memory(&log_of(&dir, "twice", twice).await)
        .await
        .unwrap();
    assert_eq!(
        breaks_of(&report),
        vec![(
            BreakKind::DuplicateEventId,
            at(last_index).0,
            at(last_index).1
        )],
        "{:?}",
        report.breaks
    );
    let (partition, offset) = at(capture_index);
    assert!(
        report.breaks[0]
            .found
            .contains(&format!("first at partition {partition} offset {offset}")),
        "{:?}",
        report.breaks
    );
}

#[tokio::test]
async fn history_as_of_a_time_is_the_fold_of_the_events_up_to_it_and_export_streams_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0xa0d2, 30);
    let log = log_of(&dir, "log", payloads.clone()).await;
    let envelopes: Vec<EventEnvelope> = payloads.iter().map(|(_, p)| decoded(p)).collect();
    let order = envelopes
        .iter()
        .filter(|e| matches!(e.event, Event::Order(OrderEvent::ShipmentDelivered(_))))
        .map(|e| e.aggregate_id.clone())
        .next()
        .expect("a delivered order");
    let events: Vec<&EventEnvelope> = envelopes
        .iter()
        .filter(|e| e.aggregate_id == order)
        .collect();
    let cut: DateTime<Utc> = events[events.len() / 2].recorded_at;
    let history = replay_tool::history(
        &log,
        &order,
        replay_tool::AsOf {
            time: Some(cut),
            offset: None,
        },
    )
    .await
    .unwrap();
    let mut expected = order_events::order::Order::default();
    let mut count = 0;
    for event in events.iter().filter(|e| e.recorded_at <= cut) {
        if let Event::Order(e) = &event.event {
            order_events::order::apply(&mut expected, e);
            count += 1;
        }
    }
    assert_eq!(history.entries.len(), count);
    assert_eq!(history.state, serde_json::to_value(&expected).unwrap());
    assert_eq!(history.entries[0].event["type"], "OrderPlaced");
    assert!(history.entries[0].event["actor"].is_object());
    let full = replay_tool::history(&log, &order, replay_tool::AsOf::default())
        .await
        .unwrap();
    assert_eq!(full.entries.len(), events.len());
    let at_offset = replay_tool::history(
        &log,
        &order,
        replay_tool::AsOf {
            time: None,
            offset: Some(full.entries[2].offset),
        },
    )
    .await
    .unwrap();
    assert_eq!(at_offset.entries.len(), 3);
    assert_eq!(at_offset.state, full.entries[2].state_after);

    let mut jsonl = Vec::new();
    let summary = replay_tool::export(
        &log,
        ExportFormat::Jsonl,
        Start::Beginning,
        TimeRange::default(),
        &mut jsonl,
    )
    .await
    .unwrap();
    assert_eq!(summary.events, payloads.len() as u64);
    let lines: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), payloads.len());
    assert!(lines
        .iter()
        .all(|l| l["hash"].is_string() && l["partition"].is_number() && l["sequence"].is_number()));
    let mut csv = Vec::new();
    let range = TimeRange {
        from: Some(cut),
        to: None,
    };
    let summary = replay_tool::export(&log, ExportFormat::Csv, Start::Beginning, range, &mut csv)
        .await
        .unwrap();
    let later = envelopes.iter().filter(|e| e.recorded_at >= cut).count();
    assert_eq!(summary.events, later as u64);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    assert_eq!(reader.headers().unwrap().get(2), Some("event_id"));
    assert_eq!(reader.records().count(), later);
}

/// A money event of `payloads` (a capture) and the same log with its amount raised and its
/// hash recomputed: a forgery the record's own hash cannot show.
fn a_capture_forged(payloads: &[Keyed]) -> (usize, Vec<u8>) {
    let index = payloads
        .iter()
        .position(|(_, bytes)| {
            matches!(
                decoded(bytes).event,
                Event::Order(OrderEvent::PaymentCaptured(_))
            )
        })
        .expect("the shop captures payments");
    let mut event = decoded(&payloads[index].1).event;
    if let Event::Order(OrderEvent::PaymentCaptured(e)) = &mut event {
        e.amount = Amount(e.amount.0 + rust_decimal::Decimal::from(500));
    }
    (index, reencode(&payloads[index].1, &event, true))
}

#[tokio::test]
async fn a_proof_checks_offline_against_what_is_trusted_and_every_forgery_is_named() {
    use replay_tool::checkpoint;
    use replay_tool::proof::{self, ProofInvalid, Trusted};
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0xa0d3, 20);
    let log = log_of(&dir, "log", payloads.clone()).await;
    let key = checkpoint::new_signing_key().unwrap();
    let public = key.verifying_key();
    let (capture, forged_bytes) = a_capture_forged(&payloads);
    let target = decoded(&payloads[capture].1);
    let made = proof::prove(&log, target.event_id, None, Some(&key))
        .await
        .unwrap();
    let now = checkpoint::checkpoint(&log).await.unwrap();
    assert_eq!(made.root, now.root, "against the log as it is");
    let signed_only = Trusted {
        checkpoint: None,
        key: Some(&public),
    };
    let event = proof::check(&made, &signed_only).unwrap();
    assert_eq!(event, target, "the proof shows what the event says");
    let json = serde_json::to_string(&made).unwrap();
    let again: proof::Proof = serde_json::from_str(&json).unwrap();
    assert_eq!(proof::check(&again, &signed_only), Ok(target.clone()));
    let trusted_now = Trusted {
        checkpoint: Some(&now),
        key: None,
    };
    assert!(proof::check(&made, &trusted_now).is_ok());

    // The capture's amount raised and its own hash recomputed: not the leaf the path proves.
    let mut forged = made.clone();
    forged.record = hex::encode(&forged_bytes);
    assert!(
        matches!(
            proof::check(&forged, &signed_only),
            Err(ProofInvalid::NotInPartition { .. })
        ),
        "{:?}",
        proof::check(&forged, &signed_only)
    );
    // ... and a path recomputed to fit it leads to another root, which the key did not sign.
    let mut reforged = forged.clone();
    let leaf = order_events::merkle::leaf_hash(&forged_bytes);
    reforged.head.root = hex::encode(recomputed_root(&leaf, &made));
    let other_heads = {
        let mut heads = now.clone();
        heads.partitions[made.partition as usize] = reforged.head.clone();
        heads
    };
    reforged.heads_path = other_heads
        .heads_path(made.partition)
        .unwrap()
        .iter()
        .map(hex::encode)
        .collect();
    reforged.root = hex::encode(order_events::merkle::root(
        &other_heads
            .partitions
            .iter()
            .map(checkpoint::PartitionHead::leaf)
            .collect::<Vec<_>>(),
    ));
    assert_eq!(
        proof::check(&reforged, &signed_only),
        Err(ProofInvalid::Checkpoint(
            checkpoint::CheckpointError::BadSignature
        ))
    );
    assert!(matches!(
        proof::check(&reforged, &trusted_now),
        Err(ProofInvalid::OtherCheckpoint(_))
    ));
    assert!(
        proof::check(&reforged, &Trusted::default()).is_ok(),
        "self-consistent, trusted by no one"
    );

    // A changed hash of the path, another place, another root, another event, another key.
    let mut path = made.clone();
    path.path[0] = hex::encode([7u8; 32]);
    assert!(matches!(
        proof::check(&path, &Trusted::default()),
        Err(ProofInvalid::NotInPartition { .. })
    ));
    let mut place = made.clone();
    place.index += 1;
    assert!(matches!(
        proof::check(&place, &Trusted::default()),
        Err(ProofInvalid::NotInPartition { .. })
    ));
    let mut root = made.clone();
    root.root = hex::encode([9u8; 32]);
    assert!(matches!(
        proof::check(&root, &Trusted::default()),
        Err(ProofInvalid::HeadNotInCheckpoint { .. })
    ));
    let mut wrong_event = made.clone();
    wrong_event.event_id = uuid::Uuid::nil();
    assert!(matches!(
        proof::check(&wrong_event, &Trusted::default()),
        Err(ProofInvalid::WrongEvent { .. })
    ));
    let stranger = checkpoint::new_signing_key().unwrap().verifying_key();
    assert!(matches!(
        proof::check(
            &made,
            &Trusted {
                checkpoint: None,
                key: Some(&stranger)
            }
        ),
        Err(ProofInvalid::Checkpoint(
            checkpoint::CheckpointError::OtherKey { .. }
        ))
    ));

    // A checkpoint of another log is not the one proven against.
    let other = log_of(&dir, "other", shop_events(0xa0d5, 20)).await;
    let theirs = checkpoint::checkpoint(&other).await.unwrap();
    assert!(matches!(
        proof::check(
            &made,
            &Trusted {
                checkpoint: Some(&theirs),
                key: None
            }
        ),
        Err(ProofInvalid::OtherCheckpoint(_))
    ));
    // Asked against it, the log cannot prove anything: it does not extend it.
    assert!(matches!(
        proof::prove(&log, target.event_id, Some(theirs), None).await,
        Err(proof::ProofError::NotExtended { .. })
    ));
    assert!(matches!(
        proof::prove(&log, uuid::Uuid::nil(), None, None).await,
        Err(proof::ProofError::NotFound(_))
    ));
}

/// The root a partition's path leads to from `leaf` (a forger's recomputation).
fn recomputed_root(
    leaf: &order_events::merkle::Digest,
    proof: &replay_tool::proof::Proof,
) -> [u8; 32] {
    use order_events::merkle::node_hash;
    let (mut f, mut s) = (proof.index, proof.head.size - 1);
    let mut r = *leaf;
    for p in &proof.path {
        let p: [u8; 32] = hex::decode(p).unwrap().try_into().unwrap();
        if f & 1 == 1 || f == s {
            r = node_hash(&p, &r);
            while f != 0 && f & 1 == 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, &p);
        }
        f >>= 1;
        s >>= 1;
    }
    r
}

#[tokio::test]
async fn a_proof_against_a_kept_checkpoint_and_a_consistency_proof_from_it() {
    use replay_tool::checkpoint;
    use replay_tool::consistency::{self, ConsistencyInvalid, TrustedOld};
    use replay_tool::proof::{self, Trusted};
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0xa0d6, 30);
    let half = payloads.len() / 2;
    let log = log_of(&dir, "log", payloads[..half].to_vec()).await;
    let key = checkpoint::new_signing_key().unwrap();
    let public = key.verifying_key();
    let yesterday = checkpoint::checkpoint(&log)
        .await
        .unwrap()
        .signed(&key, Utc.with_ymd_and_hms(2026, 12, 2, 23, 0, 0).unwrap());
    let records: Vec<OutgoingRecord> = payloads[half..]
        .iter()
        .cloned()
        .map(|p| outgoing(&log, p))
        .collect();
    log.publish(records).await.unwrap();

    // An event from before yesterday's checkpoint, proven against it today.
    let early = decoded(&payloads[1].1);
    let made = proof::prove(&log, early.event_id, Some(yesterday.clone()), None)
        .await
        .unwrap();
    let kept = Trusted {
        checkpoint: Some(&yesterday),
        key: Some(&public),
    };
    assert_eq!(proof::check(&made, &kept), Ok(early));
    // One recorded since cannot be.
    let late = decoded(&payloads[payloads.len() - 1].1);
    assert!(matches!(
        proof::prove(&log, late.event_id, Some(yesterday.clone()), None).await,
        Err(proof::ProofError::AfterCheckpoint { .. })
    ));

    // Today's log extends yesterday's checkpoint, and proves it.
    let step = consistency::prove(&log, yesterday.clone(), Some(&key))
        .await
        .unwrap();
    assert!(step.new.records() > yesterday.records());
    let trusted = TrustedOld {
        old: Some(&yesterday),
        key: Some(&public),
    };
    assert_eq!(consistency::check(&step, &trusted), Ok(()));
    let proof_hashes: usize = step.partitions.iter().map(|p| p.path.len()).sum();
    assert!(
        proof_hashes > 0 && proof_hashes <= 4 * 2 * 12,
        "{proof_hashes} hashes"
    );

    // A changed proof hash, a new checkpoint not signed by the key, another old checkpoint.
    let mut changed = step.clone();
    let moved = changed
        .partitions
        .iter_mut()
        .find(|p| !p.path.is_empty())
        .unwrap();
    moved.path[0] = hex::encode([3u8; 32]);
    assert!(matches!(
        consistency::check(&changed, &trusted),
        Err(ConsistencyInvalid::Partition { .. })
    ));
    let stranger = checkpoint::new_signing_key().unwrap();
    let mut resigned = step.clone();
    resigned.new = resigned.new.clone().signed(
        &stranger,
        Utc.with_ymd_and_hms(2026, 12, 3, 23, 0, 0).unwrap(),
    );
    assert!(matches!(
        consistency::check(&resigned, &trusted),
        Err(ConsistencyInvalid::Checkpoint { which: "new", .. })
    ));
    let other = log_of(&dir, "other", shop_events(0xa0d7, 10)).await;
    let theirs = checkpoint::checkpoint(&other).await.unwrap();
    assert!(matches!(
        consistency::check(
            &step,
            &TrustedOld {
                old: Some(&theirs),
                key: Some(&public)
            }
        ),
        Err(ConsistencyInvalid::OtherOldCheckpoint { .. })
    ));
    // Records removed from the end, and a rewritten record: no proof can be made.
    let shorter = log_of(&dir, "shorter", payloads[..half - 1].to_vec()).await;
    assert!(matches!(
        consistency::prove(&shorter, yesterday.clone(), None).await,
        Err(consistency::ConsistencyError::NotExtended(_))
    ));
    let (capture, forged) = a_capture_forged(&payloads[..half]);
    let mut rewritten = payloads.clone();
    rewritten[capture].1 = forged;
    let rewritten = log_of(&dir, "rewritten", rewritten).await;
    let report = replay_tool::verify_against(
        &rewritten,
        &projections::Projector::default(),
        Start::Beginning,
        Some(yesterday.clone()),
    )
    .await
    .unwrap();
    assert!(
        report
            .breaks
            .iter()
            .any(|b| b.kind == BreakKind::CheckpointNotExtended && b.found.contains("rewritten")),
        "{:?}",
        report.breaks
    );
    let today = replay_tool::verify_against(
        &log,
        &projections::Projector::default(),
        Start::Beginning,
        Some(yesterday.clone()),
    )
    .await
    .unwrap();
    assert!(today.is_intact(), "{:?}", today.breaks);
    assert_eq!(today.root, Some(step.new.root.clone()));
    match consistency::prove(&rewritten, yesterday, None).await {
        Err(consistency::ConsistencyError::NotExtended(departures)) => assert!(
            departures
                .iter()
                .all(|d| matches!(d, checkpoint::Departure::Rewritten { .. })),
            "{departures:?}"
        ),
        other => panic!("a rewritten history proved consistent: {other:?}"),
    }
}

#[tokio::test]
async fn two_rebuilds_give_identical_digests_and_a_lagging_live_store_shows_its_differences() {
    use projections::{ProjectionStore, Projector};
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0xa0d4, 40);
    let log = log_of(&dir, "log", payloads).await;
    let records = all_records(&log).await;
    let live = ProjectionStore::open(&dir.path().join("live"), Projector::default()).unwrap();
    live.fold(&records).unwrap();
    let first = replay_tool::rebuild::rebuild(
        &log,
        &dir.path().join("one"),
        Projector::default(),
        Some(&live),
        RebuildOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.events, records.len() as u64);
    assert!(first.differences.is_empty(), "{first:?}");
    assert!(first.live_behind.is_none());
    let second = replay_tool::rebuild::rebuild(
        &log,
        &dir.path().join("two"),
        Projector::default(),
        None,
        // A page cache far smaller than the store changes nothing but the speed.
        RebuildOptions {
            store_cache_bytes: 1 << 20,
            ..RebuildOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(first.digests, second.digests);
    assert_eq!(first.digests.len(), 7);

    let lagging = ProjectionStore::open(&dir.path().join("lagging"), Projector::default()).unwrap();
    lagging.fold(&records[..records.len() - 5]).unwrap();
    let third = replay_tool::rebuild::rebuild(
        &log,
        &dir.path().join("three"),
        Projector::default(),
        Some(&lagging),
        RebuildOptions::default(),
    )
    .await
    .unwrap();
    assert!(!third.differences.is_empty());
    assert!(third.live_behind.is_some());
    assert!(
        replay_tool::rebuild::rebuild(
            &log,
            &dir.path().join("three"),
            Projector::default(),
            None,
            RebuildOptions::default()
        )
        .await
        .is_err(),
        "an existing directory is refused"
    );
}

#[tokio::test]
async fn every_money_event_is_checked_against_the_trial_balance() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0x7b, 40);
    let money = payloads
        .iter()
        .filter(|(_, payload)| match decoded(payload).event {
            Event::Order(
                OrderEvent::PaymentCaptured(_)
                | OrderEvent::RefundIssued(_)
                | OrderEvent::CashCollected(_),
            ) => true,
            Event::Order(OrderEvent::ShipmentDispatched(d)) => d.freight_cost.is_positive(),
            // The freight of a refusal at the door, charged to the merchant (the default).
            Event::Order(OrderEvent::DeliveryRefused(r)) => r.freight.is_positive(),
            _ => false,
        })
        .count() as u64;
    assert!(money > 0);
    let log = log_of(&dir, "log", payloads).await;
    let report = replay_tool::verify(&log).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.breaks);
    assert_eq!(report.money_events, money);
}

/// A payment provider's settlement batch as the ledger would seal it (`net` unchecked, so a
/// batch that does not add up can be planted).
fn settlement(reference: &str, net: &str) -> Keyed {
    let mut event = order_events::testkit::samples::psp_settlement_recorded();
    event.bank_reference = reference.to_owned();
    event.net = net.parse().unwrap();
    let command = order_events::testkit::samples::envelope(
        order_events::testkit::samples::record_psp_settlement(),
        u128::from(reference.len() as u64),
    );
    let head = order_events::envelope::ChainHead::GENESIS;
    // After the shop's last event (the writer never stamps a time earlier than that).
    let sealed = codec::seal(
        &command,
        head,
        vec![Event::Account(event.into())],
        Utc.with_ymd_and_hms(2027, 1, 30, 9, 0, 0).unwrap(),
    );
    let sealed = sealed.into_iter().next().unwrap();
    (sealed.envelope.aggregate_id, sealed.record)
}

#[tokio::test]
async fn psp_settlements_are_money_events_and_one_that_does_not_add_up_breaks_the_balance() {
    let dir = tempfile::tempdir().unwrap();
    let mut payloads = shop_events(0x7c, 10);
    let before = log_of(&dir, "before", payloads.clone()).await;
    let money = replay_tool::verify(&before).await.unwrap().money_events;
    payloads.push(settlement("SEPA-1", "985.70"));
    let log = log_of(&dir, "log", payloads.clone()).await;
    let report = replay_tool::verify(&log).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.breaks);
    assert_eq!(report.money_events, money + 1);

    // 985.71 to the bank and 14.30 in fees out of 1 000.00 cleared: a cent from nowhere.
    let mut planted = payloads[..payloads.len() - 1].to_vec();
    planted.push(settlement("SEPA-1", "985.71"));
    let log = log_of(&dir, "planted", planted).await;
    let report = replay_tool::verify(&log).await.unwrap();
    // The planted batch breaks the balance; money events read after it (in later partitions)
    // find it still a cent off, and say so too.
    assert!(
        report
            .breaks
            .iter()
            .all(|b| b.kind == BreakKind::TrialBalanceBroken && b.found.contains("0.01 EUR")),
        "{:?}",
        report.breaks
    );
    assert_eq!(
        report.breaks[0].aggregate.as_deref(),
        Some("account:psp:adyen:EUR")
    );
}

#[test]
fn an_unbalanced_entry_breaks_the_running_trial_balance() {
    use projections::model::{EntryKind, JournalEntry, Posting};
    let entry = |debit: &str, credit: &str| JournalEntry {
        kind: EntryKind::Capture,
        event_id: uuid::Uuid::nil(),
        order_id: None,
        currency: order_events::Currency::EUR,
        at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        postings: vec![
            Posting {
                account: "a".into(),
                debit: debit.parse().unwrap(),
                credit: Amount::ZERO,
            },
            Posting {
                account: "b".into(),
                debit: Amount::ZERO,
                credit: credit.parse().unwrap(),
            },
        ],
    };
    let mut balance = replay_tool::RunningTrialBalance::default();
    assert_eq!(balance.post(&[entry("10.00", "10.00")]), Ok(()));
    let broken = balance.post(&[entry("10.00", "9.99")]).unwrap_err();
    assert!(broken.contains("trial balance 0.01 EUR"), "{broken}");
    assert_eq!(
        balance.balance(order_events::Currency::EUR),
        "0.01".parse().unwrap()
    );
}

/// `verify` of `log` from `start`, with the default settlement rules.
async fn verify_window(log: &EmbeddedLog, start: Start) -> replay_tool::VerifyReport {
    replay_tool::verify_from(log, &projections::Projector::default(), start)
        .await
        .unwrap()
}

#[tokio::test]
async fn verify_from_an_offset_checks_the_window_and_anchors_older_chains() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0x51, 40);
    let log = log_of(&dir, "log", payloads.clone()).await;
    let full = replay_tool::verify(&log).await.unwrap();
    let ends = log.end_offsets(Topic::Events).await.unwrap();
    let from = 10;
    let window = verify_window(&log, Start::Offset(from)).await;
    assert!(window.is_intact(), "{:?}", window.breaks);
    let skipped: u64 = ends.iter().map(|&end| end.min(from)).sum();
    assert_eq!(window.events, full.events - skipped);
    // Anchored: the aggregates with an event in the window whose first event is not in it.
    let records = all_records(&log).await;
    let first_in_window: BTreeMap<String, u64> =
        records
            .iter()
            .filter(|r| r.offset >= from)
            .fold(BTreeMap::new(), |mut firsts, r| {
                let envelope = decoded(&r.payload);
                firsts
                    .entry(envelope.aggregate_id)
                    .or_insert(envelope.sequence);
                firsts
            });
    let anchored = first_in_window.values().filter(|&&s| s > 1).count() as u64;
    assert!(anchored > 0);
    assert_eq!(window.anchored, anchored);
    assert_eq!(window.start, Start::Offset(from));

    // A change inside the window is still caught there.
    let mut changed = payloads.clone();
    let target = records.iter().position(|r| r.offset >= from + 2).unwrap();
    let position = payloads
        .iter()
        .position(|(_, p)| *p == records[target].payload)
        .unwrap();
    let len = changed[position].1.len();
    changed[position].1[len / 2] ^= 0x01;
    let tampered = log_of(&dir, "tampered", changed).await;
    let report = verify_window(&tampered, Start::Offset(from)).await;
    assert_eq!(report.breaks.len(), 1, "{:?}", report.breaks);
    assert_eq!(
        (report.breaks[0].partition, report.breaks[0].offset),
        (records[target].partition, records[target].offset)
    );
}

#[tokio::test]
async fn verify_from_a_time_starts_at_the_first_event_recorded_since() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = shop_events(0x52, 40);
    let log = log_of(&dir, "log", payloads.clone()).await;
    let times: Vec<DateTime<Utc>> = payloads
        .iter()
        .map(|(_, p)| decoded(p).recorded_at)
        .collect();
    let since = times[times.len() / 2];
    let later = times.iter().filter(|&&t| t >= since).count() as u64;
    assert!(later > 0 && later < times.len() as u64);
    let window = verify_window(&log, Start::Time(since)).await;
    assert!(window.is_intact(), "{:?}", window.breaks);
    assert_eq!(window.events, later);
    // After the last event: nothing to read.
    let after = *times.iter().max().unwrap() + chrono::Duration::seconds(1);
    let empty = verify_window(&log, Start::Time(after)).await;
    assert_eq!((empty.events, empty.aggregates), (0, 0));
}

#[tokio::test]
async fn an_event_recorded_before_the_one_ahead_of_it_in_its_partition_is_a_break() {
    let dir = tempfile::tempdir().unwrap();
    let mut payloads = shop_events(0x7d, 10);
    let (key, record) = settlement("SEPA-2", "985.70");
    let mut event = decoded(&record);
    event.recorded_at = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
    let command = order_events::testkit::samples::envelope(
        order_events::testkit::samples::record_psp_settlement(),
        7,
    );
    let early = codec::seal(
        &command,
        order_events::envelope::ChainHead::GENESIS,
        vec![event.event],
        event.recorded_at,
    );
    payloads.push((key, early.into_iter().next().unwrap().record));
    let log = log_of(&dir, "log", payloads).await;
    let report = verify_in_little_memory(&log).await.unwrap();
    let kinds: Vec<BreakKind> = report.breaks.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        vec![BreakKind::RecordedAtWentBack],
        "{:?}",
        report.breaks
    );
    assert!(report.breaks[0].found.contains("2026-11-01T09:00:00"));
}

/// A proof of an event among a million (one partition of a million records, eight partitions)
/// with the largest record the shop writes and a signature stays under 4 KB: its audit paths
/// are the RFC 9162 paths of those sizes, the rest is the record.
#[test]
fn a_signed_proof_among_a_million_records_is_under_four_kilobytes() {
    use order_events::merkle;
    use replay_tool::checkpoint::{self, PartitionHead};
    let largest = shop_events(0xa0d8, 40)
        .into_iter()
        .map(|(_, record)| record)
        .max_by_key(Vec::len)
        .unwrap();
    let size = 1_000_000u64;
    let index = size / 2 + 1;
    let hashes = |n: usize| vec![hex::encode([0xabu8; 32]); n];
    let path = merkle::inclusion_ranges(index, size).unwrap().len();
    let heads_path = merkle::inclusion_ranges(3, 8).unwrap().len();
    let key = checkpoint::new_signing_key().unwrap();
    let signed = checkpoint::Checkpoint::from_heads(vec![PartitionHead {
        partition: 0,
        size,
        root: hex::encode([1u8; 32]),
    }])
    .signed(&key, Utc.with_ymd_and_hms(2026, 12, 3, 23, 0, 0).unwrap());
    let proof = replay_tool::proof::Proof {
        format: replay_tool::proof::PROOF_FORMAT.to_owned(),
        event_id: decoded(&largest).event_id,
        partition: 3,
        index,
        offset: index,
        record: hex::encode(&largest),
        path: hashes(path),
        head: PartitionHead {
            partition: 3,
            size,
            root: hex::encode([2u8; 32]),
        },
        partitions: 8,
        heads_path: hashes(heads_path),
        root: signed.root.clone(),
        signature: signed.signature,
    };
    let text = serde_json::to_string_pretty(&proof).unwrap();
    assert_eq!((path, heads_path), (20, 3));
    assert!(
        text.len() < 4096,
        "{} bytes with a record of {}",
        text.len(),
        largest.len()
    );
}
