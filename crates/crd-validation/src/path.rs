//! apimachinery `field.Path` rendering: `spec.list[0].name`, `spec.labels[key]`,
//! and `<nil>` for the object root.

/// A field path built like apimachinery's `field.Path`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(String);

impl FieldPath {
    /// The object root (`nil` in Go).
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `Child(name)`: a struct field.
    pub(crate) fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_string())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// `Key(key)`: a map entry.
    pub(crate) fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// `Index(i)`: a list item.
    pub(crate) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// `String()`: `<nil>` for the root, as Go prints a nil `*field.Path`.
    pub(crate) fn render(&self) -> String {
        if self.0.is_empty() {
            "<nil>".to_string()
        } else {
            self.0.clone()
        }
    }
}
