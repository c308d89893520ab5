//! What only SQLite needs: the group-commit writer, the checkpointer that keeps WAL
//! checkpoints off the writer's path, and statements prepared once per connection.

pub(crate) mod batch;
pub(crate) mod checkpoint;
pub(crate) mod fixed;
