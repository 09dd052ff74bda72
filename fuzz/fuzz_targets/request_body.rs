//! The request-body limit (`ClientBody`, crates/server/src/body.rs, which `forward` wraps
//! around every streamed upload with `--web.max-request-body-bytes`) driven directly with a
//! scripted body: data frames of any size, trailers, an error, `Pending` turns, and a size
//! hint that is absent, honest or a lie; the limit comes from the input too.
//!
//! Input: limit (u16 LE), flags (bit 0: declare a length; bit 1: declare the u16 that
//! follows instead of the true total), then ops: a byte whose low 2 bits pick data (u16 LE
//! length, content generated from the op byte), trailers, error or pending.
//!
//! Checks: no panic; the bytes that come out are exactly the script's bytes up to the first
//! error or the first frame that would cross the limit, and never more than the limit; a
//! crossing ends with an error and the watch reporting `BodyTooLarge`, a failing body with
//! `BadRequestBody`, a body within the limit (trailers included) ends cleanly with no fault;
//! after its error the wrapper yields nothing more; its size hint is the inner body's.
#![no_main]

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use scrapegate_server::fuzzing::{ClientBody, UpstreamFailure};
use scrapegate_server::http::{HeaderMap, HeaderValue};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

#[derive(Clone)]
enum Step {
    Data(Bytes),
    Trailers(HeaderMap),
    Error,
    Pending,
}

struct Script {
    steps: VecDeque<Step>,
    hint: SizeHint,
}

impl Body for Script {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.steps.pop_front() {
            None => Poll::Ready(None),
            Some(Step::Data(d)) => Poll::Ready(Some(Ok(Frame::data(d)))),
            Some(Step::Trailers(t)) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            Some(Step::Error) => Poll::Ready(Some(Err(std::io::Error::other("broken off")))),
            Some(Step::Pending) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.steps.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        self.hint.clone()
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Clean,
    TooLarge,
    Broken,
}

fn u16_at(data: &[u8], at: usize) -> u16 {
    let b = |i: usize| data.get(i).copied().unwrap_or(0);
    u16::from_le_bytes([b(at), b(at + 1)])
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let limit = u64::from(u16_at(input, 0));
    let flags = input[2];
    let mut at = 3;
    let lie = if flags & 2 != 0 {
        at += 2;
        Some(u64::from(u16_at(input, 3)))
    } else {
        None
    };

    let mut steps = VecDeque::new();
    while at < input.len() && steps.len() < 256 {
        let op = input[at];
        at += 1;
        steps.push_back(match op & 3 {
            0 => {
                let len = usize::from(u16_at(input, at));
                at += 2;
                Step::Data(Bytes::from(
                    (0..len).map(|i| (i as u8) ^ op).collect::<Vec<u8>>(),
                ))
            }
            1 => {
                let mut t = HeaderMap::new();
                t.insert("x-checksum", HeaderValue::from(u32::from(op)));
                Step::Trailers(t)
            }
            2 => Step::Error,
            _ => Step::Pending,
        });
    }

    // What must come out: everything up to the first error or the first crossing frame.
    let mut want_data = Vec::new();
    let mut want_trailers = 0;
    let mut want = Outcome::Clean;
    for step in &steps {
        match step {
            Step::Data(d) => {
                if (want_data.len() + d.len()) as u64 > limit {
                    want = Outcome::TooLarge;
                    break;
                }
                want_data.extend_from_slice(d);
            }
            Step::Trailers(_) => want_trailers += 1,
            Step::Error => {
                want = Outcome::Broken;
                break;
            }
            Step::Pending => {}
        }
    }
    let total: u64 = steps
        .iter()
        .map(|s| match s {
            Step::Data(d) => d.len() as u64,
            _ => 0,
        })
        .sum();
    let hint = match (flags & 1 != 0, lie) {
        (_, Some(n)) => SizeHint::with_exact(n),
        (true, None) => SizeHint::with_exact(total),
        (false, None) => SizeHint::default(),
    };
    let n_steps = steps.len();
    let (body, watch) = ClientBody::new(
        Script {
            steps,
            hint: hint.clone(),
        },
        limit,
    );
    let mut body = std::pin::pin!(body);
    assert_eq!(body.size_hint().lower(), hint.lower());
    assert_eq!(body.size_hint().upper(), hint.upper());

    let mut cx = Context::from_waker(Waker::noop());
    let mut got_data = Vec::new();
    let mut got_trailers = 0;
    let mut errored = false;
    // Every step takes at most one poll; one more sees the end.
    for _ in 0..=n_steps {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Pending => {}
            Poll::Ready(None) => break,
            Poll::Ready(Some(Ok(frame))) => {
                assert!(!errored, "a frame after the error");
                match frame.into_data() {
                    Ok(d) => got_data.extend_from_slice(&d),
                    Err(frame) => {
                        assert!(frame.is_trailers());
                        got_trailers += 1;
                    }
                }
                assert!(got_data.len() as u64 <= limit, "past the limit");
            }
            Poll::Ready(Some(Err(_))) => {
                assert!(!errored, "a second error");
                errored = true;
            }
        }
    }
    // Done: polling again yields nothing, whatever the inner body still holds.
    assert!(matches!(
        body.as_mut().poll_frame(&mut cx),
        Poll::Ready(None)
    ));

    assert!(
        got_data == want_data,
        "bytes differ ({} vs {})",
        got_data.len(),
        want_data.len()
    );
    assert!(got_data.len() as u64 <= limit);
    assert_eq!(got_trailers, want_trailers);
    match want {
        Outcome::Clean => {
            assert!(!errored);
            assert_eq!(watch.fault(), None);
        }
        Outcome::TooLarge => {
            assert!(errored);
            assert_eq!(watch.fault(), Some(UpstreamFailure::BodyTooLarge));
        }
        Outcome::Broken => {
            assert!(errored);
            assert_eq!(watch.fault(), Some(UpstreamFailure::BadRequestBody));
        }
    }
});
