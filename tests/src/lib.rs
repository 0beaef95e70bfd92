//! natter-tests: end-to-end scenarios across roles live in `e2e/`.
