//! `skynet-services`: standard services, the config-driven node and the `skynet` binary.
