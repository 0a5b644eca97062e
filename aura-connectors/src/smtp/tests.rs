//! The `smtp` app without a server: settings, message building, error mapping.

use super::*;
