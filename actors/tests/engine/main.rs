//! Engine tests over in-memory fakes of the store and providers.
