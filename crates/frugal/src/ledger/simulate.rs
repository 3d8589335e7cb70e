//! `frugal simulate`: replay a routing data set through the real pipeline and the loop.
