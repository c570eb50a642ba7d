//! The macro behind every message set (the commands and events of an aggregate).
//!
//! Each message is its own struct; a set is an enum with one variant per struct, named after
//! it. The variant name is the wire type name (`PlaceOrder`, `OrderPlaced`), and each event type
//! carries its own schema version, so one type can evolve without touching the others.

/// Declares a message-set enum. `Name = N` gives the type's current schema version.
macro_rules! message_set {
    ($(#[$meta:meta])* pub enum $set:ident { $($variant:ident = $version:literal),+ $(,)? }) => {
        $(#[$meta])*
        // See `envelope::Command` on why large variants stay unboxed.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $set {
            $($variant($variant),)+
        }

        impl $set {
            /// Every type in the set with its current schema version.
            pub const TYPES: &'static [(&'static str, u16)] = &[$((stringify!($variant), $version),)+];

            /// The wire type name, e.g. `OrderPlaced`.
            pub fn type_name(&self) -> &'static str {
                match self { $($set::$variant(_) => stringify!($variant),)+ }
            }

            /// The schema version this build writes for the message's type.
            pub fn schema_version(&self) -> u16 {
                match self { $($set::$variant(_) => $version,)+ }
            }

            /// The current schema version of a type in this set, or `None` if it is not one.
            pub fn current_version_of(type_name: &str) -> Option<u16> {
                Self::TYPES.iter().find(|(name, _)| *name == type_name).map(|&(_, v)| v)
            }

            pub(crate) fn encode_payload(&self) -> Vec<u8> {
                match self { $($set::$variant(message) => crate::codec::encode_payload(message),)+ }
            }

            /// Decodes a payload written at the type's current version; `None` for a type name
            /// outside this set.
            pub(crate) fn decode_current_payload(
                type_name: &str,
                bytes: &[u8],
            ) -> Option<Result<$set, crate::codec::DecodeError>> {
                match type_name {
                    $(stringify!($variant) => Some(
                        crate::codec::decode_payload::<$variant>(type_name, bytes).map($set::$variant)
                    ),)+
                    _ => None,
                }
            }

            pub(crate) fn to_json_payload(&self) -> serde_json::Value {
                let value = match self { $($set::$variant(message) => serde_json::to_value(message),)+ };
                // Messages are plain data with string map keys: serializing them cannot fail.
                value.expect("message types serialize to JSON")
            }

            /// Parses a JSON payload written at the type's current version; `None` for a type
            /// name outside this set. Parsing from text (not from a `Value`) keeps serde's
            /// duplicate-field check.
            pub(crate) fn decode_current_json(
                type_name: &str,
                payload: &str,
            ) -> Option<Result<$set, crate::codec::json::Located>> {
                match type_name {
                    $(stringify!($variant) => Some(crate::codec::json::parse::<$variant>(payload.as_bytes()).map($set::$variant)),)+
                    _ => None,
                }
            }

            /// `(type name, version, schema maker)` for every type: the maker adds the payload's
            /// schema to a generator's definitions and returns a reference to it.
            pub fn payload_schemas() -> Vec<(&'static str, u16, crate::schema::SchemaMaker)> {
                vec![$((
                    stringify!($variant),
                    $version,
                    (|generator: &mut schemars::SchemaGenerator| generator.subschema_for::<$variant>())
                        as crate::schema::SchemaMaker,
                ),)+]
            }
        }

        $(impl From<$variant> for $set {
            fn from(message: $variant) -> $set {
                $set::$variant(message)
            }
        })+
    };
}

/// Declares a union of message sets (`Command`, `Event`): one variant per set, each `in` the
/// aggregate kind its messages belong to, and everything that finds a type name's set, written
/// once for all sets.
macro_rules! message_union {
    ($(#[$meta:meta])* pub enum $union:ident { $($variant:ident($set:ident) in $kind:ident),+ $(,)? }) => {
        $(#[$meta])*
        // A placement is a few hundred bytes larger than other messages. Messages are built once
        // and moved a handful of times, so boxing it would add noise to every match for no
        // measurable gain.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $union {
            $($variant($set),)+
        }

        impl $union {
            /// The wire type name, e.g. `PlaceOrder`.
            pub fn type_name(&self) -> &'static str {
                match self { $($union::$variant(message) => message.type_name(),)+ }
            }

            /// The schema version this build writes for the message's type.
            pub fn schema_version(&self) -> u16 {
                match self { $($union::$variant(message) => message.schema_version(),)+ }
            }

            /// The kind of aggregate the message belongs to.
            pub fn aggregate_kind(&self) -> crate::envelope::AggregateKind {
                match self { $($union::$variant(_) => crate::envelope::AggregateKind::$kind,)+ }
            }

            /// `(type name, version, aggregate kind, schema maker)` of every type of every set.
            pub fn payload_schemas() -> Vec<(
                &'static str,
                u16,
                crate::envelope::AggregateKind,
                crate::schema::SchemaMaker,
            )> {
                let mut all = Vec::new();
                $(all.extend($set::payload_schemas().into_iter().map(|(name, version, maker)| {
                    (name, version, crate::envelope::AggregateKind::$kind, maker)
                }));)+
                all
            }

            /// Every type name of every set with its current schema version.
            pub fn types() -> impl Iterator<Item = (&'static str, u16)> {
                [$($set::TYPES),+].into_iter().flatten().copied()
            }

            /// The current schema version of a type in any set, or `None` if it is in none.
            pub fn current_version_of(type_name: &str) -> Option<u16> {
                Option::<u16>::None $(.or_else(|| $set::current_version_of(type_name)))+
            }

            pub(crate) fn encode_payload(&self) -> Vec<u8> {
                match self { $($union::$variant(message) => message.encode_payload(),)+ }
            }

            pub(crate) fn to_json_payload(&self) -> serde_json::Value {
                match self { $($union::$variant(message) => message.to_json_payload(),)+ }
            }

            /// Decodes a payload written at its type's current version, in whichever set the
            /// type is; `None` for a type in no set.
            pub(crate) fn decode_current_payload(
                type_name: &str,
                bytes: &[u8],
            ) -> Option<Result<$union, crate::codec::DecodeError>> {
                Option::<Result<$union, _>>::None $(.or_else(|| {
                    $set::decode_current_payload(type_name, bytes).map(|r| r.map($union::$variant))
                }))+
            }

            /// Parses a JSON payload written at its type's current version, in whichever set
            /// the type is; `None` for a type in no set.
            pub(crate) fn decode_current_json(
                type_name: &str,
                payload: &str,
            ) -> Option<Result<$union, crate::codec::json::Located>> {
                Option::<Result<$union, _>>::None $(.or_else(|| {
                    $set::decode_current_json(type_name, payload).map(|r| r.map($union::$variant))
                }))+
            }
        }

        $(impl From<$set> for $union {
            fn from(message: $set) -> $union {
                $union::$variant(message)
            }
        })+
    };
}

pub(crate) use {message_set, message_union};
