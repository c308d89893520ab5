//! What only SQLite needs: the group-commit writer, the checkpointer that keeps WAL
//! checkpoints off the writer's path.

pub(crate) mod batch;
pub(crate) mod checkpoint;
