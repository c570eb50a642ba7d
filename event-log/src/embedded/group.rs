//! Consumer groups of the embedded log: members, generations and range assignment, like
//! Kafka's eager rebalance protocol, kept in memory by the process that owns the log.

use std::collections::{BTreeMap, HashMap};

use crate::port::LogError;
use crate::topic::TopicPartition;

#[derive(Default)]
pub(crate) struct Groups {
    groups: HashMap<String, Group>,
    next_member: u64,
}

#[derive(Default)]
struct Group {
    generation: u64,
    /// Members and the topics each subscribes to.
    members: BTreeMap<u64, Vec<String>>,
    assignment: HashMap<u64, Vec<TopicPartition>>,
}

impl Group {
    /// A new generation: every subscribed partition goes to one member, partitions of each topic
    /// split into contiguous ranges over the members subscribing to it (Kafka's range assignor).
    fn rebalance(&mut self, partitions: &BTreeMap<String, u32>) {
        self.generation += 1;
        self.assignment = self.members.keys().map(|&m| (m, Vec::new())).collect();
        let mut topics: Vec<&String> = self.members.values().flatten().collect();
        topics.sort();
        topics.dedup();
        for topic in topics {
            let subscribers: Vec<u64> = self
                .members
                .iter()
                .filter(|(_, subscribed)| subscribed.contains(topic))
                .map(|(&member, _)| member)
                .collect();
            let count = partitions.get(topic).copied().unwrap_or(0) as usize;
            let per_member = count / subscribers.len();
            let extra = count % subscribers.len();
            let mut next = 0;
            for (index, member) in subscribers.iter().enumerate() {
                let take = per_member + usize::from(index < extra);
                let slot = self
                    .assignment
                    .get_mut(member)
                    .expect("every member has a slot");
                slot.extend(
                    (next..next + take).map(|p| TopicPartition::new(topic.clone(), p as u32)),
                );
                next += take;
            }
        }
    }
}

impl Groups {
    pub(crate) fn join(
        &mut self,
        group: &str,
        topics: Vec<String>,
        partitions: &BTreeMap<String, u32>,
    ) -> u64 {
        self.next_member += 1;
        let member = self.next_member;
        let state = self.groups.entry(group.to_owned()).or_default();
        state.members.insert(member, topics);
        state.rebalance(partitions);
        member
    }

    pub(crate) fn leave(&mut self, group: &str, member: u64, partitions: &BTreeMap<String, u32>) {
        if let Some(state) = self.groups.get_mut(group) {
            if state.members.remove(&member).is_some() {
                state.rebalance(partitions);
            }
        }
    }

    /// The current generation and this member's partitions in it.
    pub(crate) fn assignment(&self, group: &str, member: u64) -> (u64, Vec<TopicPartition>) {
        self.groups.get(group).map_or((0, Vec::new()), |state| {
            (
                state.generation,
                state.assignment.get(&member).cloned().unwrap_or_default(),
            )
        })
    }

    /// Refuses offsets from a member of an older generation, or for partitions it does not own:
    /// the embedded equivalent of KIP-447's zombie fencing.
    pub(crate) fn check_owner(
        &self,
        group: &str,
        member: u64,
        generation: u64,
        partitions: &[&TopicPartition],
    ) -> Result<(), LogError> {
        let (current, owned) = self.assignment(group, member);
        if current != generation {
            return Err(LogError::Rebalanced(format!(
                "group {group} is at generation {current}, the offsets are from {generation}"
            )));
        }
        if let Some(foreign) = partitions.iter().find(|tp| !owned.contains(tp)) {
            return Err(LogError::Rebalanced(format!(
                "{foreign} is not assigned to this member of {group}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_split_into_ranges_and_move_on_rebalance() {
        let partitions = BTreeMap::from([("t".to_owned(), 5u32)]);
        let mut groups = Groups::default();
        let a = groups.join("g", vec!["t".to_owned()], &partitions);
        assert_eq!(groups.assignment("g", a).1.len(), 5);
        let b = groups.join("g", vec!["t".to_owned()], &partitions);
        let (generation, first) = groups.assignment("g", a);
        let (_, second) = groups.assignment("g", b);
        assert_eq!((first.len(), second.len()), (3, 2));
        assert_eq!(generation, 2);
        assert!(
            groups.check_owner("g", a, 1, &[&first[0]]).is_err(),
            "old generation"
        );
        assert!(
            groups.check_owner("g", a, 2, &[&second[0]]).is_err(),
            "foreign partition"
        );
        assert!(groups.check_owner("g", a, 2, &[&first[0]]).is_ok());
        groups.leave("g", b, &partitions);
        assert_eq!(
            groups.assignment("g", a),
            (3, (0..5).map(|p| TopicPartition::new("t", p)).collect())
        );
    }
}
