//! Progress of long sends and imports, told to whoever drew a bar (the CLI, on a terminal).

/// A step of a long run: `done` of `total` units (records, files) of `what`.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub what: &'a str,
    pub done: usize,
    pub total: usize,
}

/// Called by the pipeline after each transfer or file.
pub type Hook = Box<dyn FnMut(Step<'_>) + Send>;
