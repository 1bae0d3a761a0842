//! Consistency models (`--consistency-models`) and the anomalies each
//! forbids, as Elle's `anomalies-prohibited-by` for the four models the
//! checker can decide.
//!
//! - read-uncommitted: G0 (Maelstrom's own checker misses it there, its
//!   issue #56).
//! - read-committed: G0, G1a, G1b, G1c.
//! - serializable: all of those and G-single, G2, internal.
//! - strict-serializable: serializable's and their real-time variants.
//!
//! Broken data (a read of a value never written, a list holding an element
//! twice, a reply that is not its request's) is forbidden under every model.
//! Incompatible list orders under read-uncommitted alone are "unknown": a
//! dirty read of an aborted append may show one, and the checker cannot
//! tell that from a broken order.

use super::anomaly::AnomalyKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConsistencyModel {
    ReadUncommitted,
    ReadCommitted,
    Serializable,
    StrictSerializable,
}

/// What a model says of an anomaly kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Judgement {
    Allowed,
    /// The checker cannot tell whether the history breaks the model.
    CannotTell,
    Forbidden,
}

impl ConsistencyModel {
    pub const ALL: [ConsistencyModel; 4] = [
        ConsistencyModel::ReadUncommitted,
        ConsistencyModel::ReadCommitted,
        ConsistencyModel::Serializable,
        ConsistencyModel::StrictSerializable,
    ];

    /// Elle's (and Maelstrom's) name.
    pub fn name(self) -> &'static str {
        match self {
            ConsistencyModel::ReadUncommitted => "read-uncommitted",
            ConsistencyModel::ReadCommitted => "read-committed",
            ConsistencyModel::Serializable => "serializable",
            ConsistencyModel::StrictSerializable => "strict-serializable",
        }
    }

    pub fn judge(self, kind: AnomalyKind) -> Judgement {
        use AnomalyKind as A;
        use ConsistencyModel as M;
        let level = self;
        let from = |m: ConsistencyModel| {
            if level >= m {
                Judgement::Forbidden
            } else {
                Judgement::Allowed
            }
        };
        match kind {
            A::MalformedReply | A::GarbageRead | A::DuplicateElements | A::G0 => {
                Judgement::Forbidden
            }
            A::IncompatibleOrder if level == M::ReadUncommitted => Judgement::CannotTell,
            A::IncompatibleOrder | A::G1a | A::G1b | A::G1c => from(M::ReadCommitted),
            A::GSingle | A::G2 | A::Internal => from(M::Serializable),
            A::G0Realtime | A::G1cRealtime | A::GSingleRealtime | A::G2Realtime => {
                from(M::StrictSerializable)
            }
        }
    }

    /// Whether the history must hold real-time order.
    pub fn real_time(self) -> bool {
        self == ConsistencyModel::StrictSerializable
    }
}

/// The strictest judgement of `kind` among `models` (all must hold).
pub fn judge_all(models: &[ConsistencyModel], kind: AnomalyKind) -> Judgement {
    models
        .iter()
        .map(|m| m.judge(kind))
        .max()
        .unwrap_or(Judgement::Allowed)
}

/// Parses one model name; Maelstrom's spaced lists (`a , b`) are split on
/// the comma by clap and trimmed here.
pub fn parse_model(text: &str) -> Result<ConsistencyModel, String> {
    let text = text.trim();
    ConsistencyModel::ALL
        .into_iter()
        .find(|m| m.name() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = ConsistencyModel::ALL.iter().map(|m| m.name()).collect();
            format!(
                "unknown consistency model `{text}` (this checker decides {})",
                names.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_model_forbids_its_own_and_the_weaker_models_anomalies() {
        use AnomalyKind as A;
        use ConsistencyModel as M;
        assert_eq!(M::ReadUncommitted.judge(A::G0), Judgement::Forbidden);
        assert_eq!(M::ReadUncommitted.judge(A::G1a), Judgement::Allowed);
        assert_eq!(M::ReadCommitted.judge(A::G1b), Judgement::Forbidden);
        assert_eq!(M::ReadCommitted.judge(A::GSingle), Judgement::Allowed);
        assert_eq!(M::Serializable.judge(A::G2), Judgement::Forbidden);
        assert_eq!(M::Serializable.judge(A::G2Realtime), Judgement::Allowed);
        assert_eq!(
            M::StrictSerializable.judge(A::G0Realtime),
            Judgement::Forbidden
        );
        assert_eq!(
            judge_all(&[M::ReadUncommitted], A::IncompatibleOrder),
            Judgement::CannotTell
        );
        assert_eq!(
            judge_all(&[M::ReadUncommitted, M::Serializable], A::G1c),
            Judgement::Forbidden
        );
        assert_eq!(parse_model(" serializable "), Ok(M::Serializable));
        assert!(parse_model("snapshot-isolation").is_err());
    }
}
