//! HA-replica scrape coalescing (`coalesce: true` on a route, `--upstream.coalesce`): owns the
//! per-route table of upstream fetches in flight and the tee that streams one fetch to every
//! request that joined it.
//!
//! Two Prometheus replicas scrape the same exporter at nearly the same moment; an expensive
//! exporter (kube-state-metrics, sql_exporter) would pay twice. Admitted GET and HEAD requests
//! without a body that agree on the route (one table per route), method, path and query,
//! `Accept` and `Accept-Encoding` ([`FetchKey`]) share **one** upstream request while it is in
//! flight:
//!
//! * the first request (the leader) starts a fetch task that runs the ordinary
//!   [`Upstream::forward`](super::Upstream::forward) (header hygiene, deadline, retry, TLS and
//!   unix pools unchanged) with the leader's headers: the upstream sees the leader's
//!   `X-Forwarded-For` and the leader's scrape-timeout budget;
//! * every request, the leader included, is a [`Waiter`]: it gets the status and headers (or
//!   the same [`UpstreamFailure`], so 502/504 are decided as without coalescing) and a body that
//!   reads the shared chunk log with its own cursor. Each waiter's own budget bounds its wait
//!   for the head (504 naming its budget) and its body;
//! * it is not a cache: a request may join only while the log still holds the body from its
//!   first byte, the body has not ended and at most [`MAX_LAG`] bytes have arrived. Once any of
//!   that stops holding the entry leaves the table, and the next request starts a new fetch;
//! * the fastest reader drives: the task reads the next upstream frame only when some waiter
//!   has taken everything read so far. A waiter more than [`MAX_LAG`] bytes behind the newest
//!   chunk is cut off (its body ends with an error, so its client sees an aborted response;
//!   counted in `scrapegate_upstream_coalesce_cutoffs_total` and logged), never stalling the
//!   others. Chunks no remaining waiter needs are dropped once joining has closed, so a fetch
//!   holds at most [`MAX_LAG`] plus one frame;
//! * when every waiter has gone (clients disconnected), the task stops and the upstream
//!   request is dropped, as it would be without coalescing.
//!
//! Locks are std mutexes held only for lookups and cursor updates, never across an await; the
//! order is table, then a fetch's state.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tokio::time::{Instant, Sleep};

use super::{Exchange, Origin, Upstream, UpstreamFailure};
use crate::body::{BoxError, GateBody, RequestBody};
use crate::routes::{Route, UpstreamPath};
use crate::telemetry::Metrics;

/// How far a waiter may fall behind the newest chunk of a shared response before it is cut
/// off, and how much of a response may have arrived for a new request to still join it.
pub const MAX_LAG: u64 = 4 << 20;

/// What the body of a cut-off waiter ends with.
const CUT_OFF: &str = "fell more than 4 MiB behind the coalesced upstream response";

/// What a waiter's body ends with when its own budget passes.
const PAST_DEADLINE: &str = "upstream body exceeded the scrape deadline";

/// The result of one upstream exchange, as [`super::Upstream::forward`] returns it.
pub(crate) type FetchResult = Result<(Response<GateBody>, Exchange), UpstreamFailure>;

/// What makes two requests of one route the same fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FetchKey {
    /// HEAD and GET never share (a HEAD response has no body to give a GET).
    head: bool,
    /// The request's path and query; within a route it decides the upstream's.
    target: Option<PathAndQuery>,
    accept: Option<HeaderValue>,
    accept_encoding: Option<HeaderValue>,
}

impl FetchKey {
    /// The key of a request that may share a fetch: GET or HEAD, no body, at most one
    /// `Accept` and one `Accept-Encoding` header. `None`: it goes upstream on its own.
    pub fn of<B: Body>(req: &Request<B>) -> Option<Self> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return None,
        };
        if !req.body().is_end_stream() {
            return None;
        }
        let headers = req.headers();
        Some(Self {
            head,
            target: req.uri().path_and_query().cloned(),
            accept: single(headers, &header::ACCEPT)?,
            accept_encoding: single(headers, &header::ACCEPT_ENCODING)?,
        })
    }
}

/// Forwards an admitted request through the route's shared fetch for `key`: joins the one in
/// flight or leads a new one. Failures are the fetch's (502/504 as usual) or the request's own
/// budget passing before the head arrived (504).
pub(crate) async fn forward<B: RequestBody>(
    upstream: &Upstream,
    route: &Route,
    metrics: &Metrics,
    key: FetchKey,
    req: Request<B>,
    path: &UpstreamPath,
    origin: &Origin,
) -> Result<Response<GateBody>, UpstreamFailure> {
    let (budget, _) = upstream.deadline_for(req.headers());
    let deadline = Instant::now() + budget;
    let (waiter, role) = route.fetches.join(key, || {
        // The leader's headers go upstream; its (empty) body is not needed.
        let (parts, _) = req.into_parts();
        let req = Request::from_parts(parts, http_body_util::Empty::<Bytes>::new());
        let upstream = upstream.clone();
        let target = route.target.clone();
        let pool = route.pool.clone();
        let path = path.clone();
        let origin = origin.clone();
        let fetch = async move {
            upstream
                .forward(req, &target, pool.as_deref(), &path, &origin)
                .await
        };
        let label = || [("route", route.label.clone())];
        let counters = FetchCounters {
            latency: route.latency.get(&metrics.upstream_latency, label).clone(),
            retries: metrics.upstream_retries.clone(),
            cutoffs: route
                .cutoffs
                .get(&metrics.upstream_coalesce_cutoffs, label)
                .clone(),
            route: route.label.clone(),
        };
        (fetch, counters)
    });
    if role == Role::Follower {
        route
            .coalesced
            .get(&metrics.upstream_coalesced, || {
                [("route", route.label.clone())]
            })
            .inc();
    }
    waiter.response(deadline, budget).await
}

/// `Some(None)`: no such header; `Some(Some(v))`: exactly one; `None`: repeated (such a
/// request is left alone rather than keyed on a list).
fn single(headers: &HeaderMap, name: &header::HeaderName) -> Option<Option<HeaderValue>> {
    let mut all = headers.get_all(name).iter();
    let first = all.next().cloned();
    match all.next() {
        Some(_) => None,
        None => Some(first),
    }
}

/// Where the fetch task reports what it did: once per upstream request, not per waiter.
#[derive(Debug, Clone)]
pub(crate) struct FetchCounters {
    /// The route's `upstream_response_seconds` child.
    pub(crate) latency: Histogram,
    /// `upstream_retries_total`.
    pub(crate) retries: Counter,
    /// The route's `upstream_coalesce_cutoffs_total` child.
    pub(crate) cutoffs: Counter,
    /// The route label, for the cut-off log line.
    pub(crate) route: Arc<str>,
}

/// Whether a request started the fetch it reads or joined one in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// It started the fetch (its headers went upstream).
    Leader,
    /// It joined a fetch in flight.
    Follower,
}

/// One route's fetches in flight, by key.
#[derive(Default)]
pub struct SharedFetches {
    table: Mutex<HashMap<FetchKey, Arc<Shared>>>,
}

impl std::fmt::Debug for SharedFetches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFetches")
            .field("in_flight", &lock(&self.table).len())
            .finish()
    }
}

impl SharedFetches {
    /// Joins the fetch in flight for `key`, or starts one: `start` gives the upstream exchange
    /// and where to count it, and is called only when this request leads.
    pub(crate) fn join<F>(
        self: &Arc<Self>,
        key: FetchKey,
        start: impl FnOnce() -> (F, FetchCounters),
    ) -> (Waiter, Role)
    where
        F: Future<Output = FetchResult> + Send + 'static,
    {
        let mut table = lock(&self.table);
        if let Some(shared) = table.get(&key)
            && let Some(slot) = shared.try_join()
        {
            let waiter = Waiter {
                shared: Arc::clone(shared),
                slot,
            };
            return (waiter, Role::Follower);
        }
        let shared = Arc::new(Shared::leading());
        table.insert(key.clone(), Arc::clone(&shared));
        drop(table);
        let (fetch, counters) = start();
        let finisher = Finisher {
            shared: Arc::clone(&shared),
            table: Arc::clone(self),
            key,
        };
        tokio::spawn(drive(finisher, fetch, counters));
        let waiter = Waiter { shared, slot: 0 };
        (waiter, Role::Leader)
    }

    /// Removes `key` when it still names `shared` (a newer fetch may have taken its place).
    fn forget(&self, key: &FetchKey, shared: &Arc<Shared>) {
        let mut table = lock(&self.table);
        if table.get(key).is_some_and(|s| Arc::ptr_eq(s, shared)) {
            table.remove(key);
        }
    }

    /// Fetches that can still be joined or are still streaming to a waiter (tests).
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        lock(&self.table).len()
    }
}

/// A poisoned lock only means a panic elsewhere; the state it guards stays consistent (every
/// update is a few assignments), so it is used as is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One fetch: the response head once known, and the chunk log.
struct Shared {
    state: Mutex<State>,
}

/// The status and headers every waiter gets a copy of.
#[derive(Debug)]
struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    /// The body's exact length when known, for each waiter's size hint.
    content_length: Option<u64>,
}

enum HeadState {
    Pending,
    Ready(Arc<Head>),
    Failed(UpstreamFailure),
}

/// How the upstream body ended.
enum End {
    /// Completely, with its trailers if it had any.
    Done(Option<HeaderMap>),
    /// With an error (upstream reset, the leader's deadline), or the task stopped.
    Failed(Arc<str>),
}

/// One chunk of the body and its offset from the body's start.
struct Chunk {
    start: u64,
    data: Bytes,
}

/// A waiter's cursor.
struct Slot {
    /// Index of the next chunk it reads.
    next: u64,
    /// Fell too far behind: its next read is an error.
    cut: bool,
    /// Its body ended (end of stream or an error): it reads nothing more.
    done: bool,
    waker: Option<Waker>,
}

struct State {
    head: HeadState,
    chunks: VecDeque<Chunk>,
    /// Index of `chunks[0]`.
    first: u64,
    /// Bytes appended so far.
    bytes: u64,
    end: Option<End>,
    /// A new request may still join.
    joinable: bool,
    slots: Vec<Option<Slot>>,
    live: usize,
    /// The fetch task, woken when a waiter wants more or leaves.
    task: Option<Waker>,
}

/// What the fetch task should do next with the body.
enum Demand {
    /// Every waiter has gone: stop.
    Gone,
    /// Nobody has caught up with the log yet: wait.
    Idle,
    /// Someone has read everything: read the next frame.
    Read,
}

impl State {
    fn tail(&self) -> u64 {
        self.first + self.chunks.len() as u64
    }

    fn wake_waiters(&mut self) {
        for slot in self.slots.iter_mut().flatten() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }

    fn wake_task(&mut self) {
        if let Some(w) = self.task.take() {
            w.wake();
        }
    }

    fn set_task_waker(&mut self, cx: &Context<'_>) {
        match &self.task {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.task = Some(cx.waker().clone()),
        }
    }

    /// True (and nobody can join any more) when every waiter has gone.
    fn abandoned(&mut self) -> bool {
        if self.live == 0 {
            self.joinable = false;
            return true;
        }
        false
    }
}

impl Shared {
    /// A fetch with its leader's slot (0) taken.
    fn leading() -> Self {
        Self {
            state: Mutex::new(State {
                head: HeadState::Pending,
                chunks: VecDeque::new(),
                first: 0,
                bytes: 0,
                end: None,
                joinable: true,
                slots: vec![Some(Slot {
                    next: 0,
                    cut: false,
                    done: false,
                    waker: None,
                })],
                live: 1,
                task: None,
            }),
        }
    }

    /// A new waiter's slot, when the fetch can still be joined.
    fn try_join(&self) -> Option<usize> {
        let mut st = lock(&self.state);
        if !st.joinable {
            return None;
        }
        let slot = Slot {
            next: st.first,
            cut: false,
            done: false,
            waker: None,
        };
        st.live += 1;
        match st.slots.iter().position(Option::is_none) {
            Some(i) => {
                st.slots[i] = Some(slot);
                Some(i)
            }
            None => {
                st.slots.push(Some(slot));
                Some(st.slots.len() - 1)
            }
        }
    }

    /// Head phase: false once every waiter has gone.
    fn poll_wanted(&self, cx: &Context<'_>) -> bool {
        let mut st = lock(&self.state);
        st.set_task_waker(cx);
        !st.abandoned()
    }

    /// Body phase: whether to read the next frame.
    fn poll_demand(&self, cx: &Context<'_>) -> Demand {
        let mut st = lock(&self.state);
        st.set_task_waker(cx);
        if st.abandoned() {
            return Demand::Gone;
        }
        let tail = st.tail();
        let caught_up = st
            .slots
            .iter()
            .flatten()
            .any(|s| !s.cut && !s.done && s.next == tail);
        if caught_up {
            Demand::Read
        } else {
            Demand::Idle
        }
    }

    /// Publishes the head; `empty`: the body is already complete (HEAD, 204, 304, a zero
    /// length), which ends the fetch in the same step.
    fn publish_head(&self, head: Head, empty: bool) {
        let mut st = lock(&self.state);
        st.head = HeadState::Ready(Arc::new(head));
        if empty {
            st.end = Some(End::Done(None));
            st.joinable = false;
        }
        st.wake_waiters();
    }

    fn fail_head(&self, failure: UpstreamFailure) {
        let mut st = lock(&self.state);
        st.head = HeadState::Failed(failure);
        st.end = Some(End::Failed(Arc::from("the upstream exchange failed")));
        st.joinable = false;
        st.wake_waiters();
    }

    /// Appends a chunk (the body's `last`: it ends the body too); returns how far behind
    /// each waiter it cut off was (bytes), and whether joining closed just now.
    fn append(&self, data: Bytes, last: bool) -> (Vec<u64>, bool) {
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        if last {
            st.end = Some(End::Done(None));
        }
        let newest = st.bytes;
        st.bytes += data.len() as u64;
        st.chunks.push_back(Chunk {
            start: newest,
            data,
        });
        // Lag is measured to the start of the newest chunk: a waiter that had read
        // everything is never behind, however large one frame is.
        let mut cut = Vec::new();
        let (first, chunks) = (st.first, &st.chunks);
        for slot in st.slots.iter_mut().flatten() {
            if slot.cut || slot.done {
                continue;
            }
            let behind = usize::try_from(slot.next - first)
                .ok()
                .and_then(|i| chunks.get(i))
                .map_or(0, |c| newest - c.start);
            if behind > MAX_LAG {
                slot.cut = true;
                cut.push(behind);
            }
        }
        let closed_now = st.joinable && (last || st.bytes > MAX_LAG);
        if closed_now {
            st.joinable = false;
        }
        if !st.joinable {
            // Nobody new can start from byte 0: what every remaining reader has passed goes.
            let keep_from = st
                .slots
                .iter()
                .flatten()
                .filter(|s| !s.cut && !s.done)
                .map(|s| s.next)
                .min()
                .unwrap_or_else(|| st.tail());
            while st.first < keep_from && st.chunks.pop_front().is_some() {
                st.first += 1;
            }
        }
        st.wake_waiters();
        (cut, closed_now)
    }

    fn finish(&self, end: End) {
        let mut st = lock(&self.state);
        st.end = Some(end);
        st.joinable = false;
        st.wake_waiters();
    }
}

/// Closes a fetch however its task ends (completion, every waiter gone, a panic, runtime
/// shutdown): no waiter is left waiting for a head or a chunk that will never come, and the
/// table forgets it.
struct Finisher {
    shared: Arc<Shared>,
    table: Arc<SharedFetches>,
    key: FetchKey,
}

impl Drop for Finisher {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.shared.state);
            st.joinable = false;
            if matches!(st.head, HeadState::Pending) {
                st.head = HeadState::Failed(UpstreamFailure::Unreachable);
            }
            if st.end.is_none() {
                st.end = Some(End::Failed(Arc::from(
                    "the coalesced upstream fetch stopped",
                )));
            }
            st.wake_waiters();
        }
        self.table.forget(&self.key, &self.shared);
    }
}

/// The fetch task: the exchange, then the body into the log as waiters demand it.
async fn drive<F>(finisher: Finisher, fetch: F, counters: FetchCounters)
where
    F: Future<Output = FetchResult>,
{
    let shared = &*finisher.shared;
    let mut fetch = pin!(fetch);
    let outcome = poll_fn(|cx| {
        if !shared.poll_wanted(cx) {
            return Poll::Ready(None);
        }
        fetch.as_mut().poll(cx).map(Some)
    })
    .await;
    let (resp, exchange) = match outcome {
        None => return,
        Some(Err(failure)) => return shared.fail_head(failure),
        Some(Ok(r)) => r,
    };
    counters.latency.observe(exchange.latency.as_secs_f64());
    if exchange.retried {
        counters.retries.inc();
    }
    let (parts, body) = resp.into_parts();
    // The body's own exact length (0 for HEAD, 204 and 304 answers), as the unshared path
    // would report it.
    let content_length = body.size_hint().exact();
    let empty = body.is_end_stream();
    shared.publish_head(
        Head {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            content_length,
        },
        empty,
    );
    if empty {
        return;
    }
    let mut body = pin!(body);
    loop {
        let frame = poll_fn(|cx| match shared.poll_demand(cx) {
            Demand::Gone => Poll::Ready(None),
            Demand::Idle => Poll::Pending,
            Demand::Read => body.as_mut().poll_frame(cx).map(Some),
        })
        .await;
        let frame = match frame {
            // Every waiter has gone: the upstream request is dropped with the task.
            None => return,
            Some(None) => return shared.finish(End::Done(None)),
            Some(Some(Err(e))) => return shared.finish(End::Failed(Arc::from(e.to_string()))),
            Some(Some(Ok(frame))) => frame,
        };
        match frame.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) => {
                // A body of known length ends with its last byte: closed in the same step,
                // so no request can join after a waiter's client saw the response complete.
                let last = body.is_end_stream();
                let (cut, closed) = shared.append(data, last);
                for behind in cut {
                    counters.cutoffs.inc();
                    tracing::warn!(
                        route = %counters.route,
                        behind_bytes = behind,
                        "A coalesced request fell more than {} MiB behind the shared upstream response and was cut off",
                        MAX_LAG >> 20
                    );
                }
                if last {
                    // Drain the end of the exchange, so the upstream connection goes back
                    // to the pool idle rather than being closed mid-exchange.
                    let _ = poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
                    return;
                }
                if closed {
                    finisher.table.forget(&finisher.key, &finisher.shared);
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    return shared.finish(End::Done(Some(trailers)));
                }
            }
        }
    }
}

/// One request reading a shared fetch: first the head, then (inside [`WaiterBody`]) the log.
pub(crate) struct Waiter {
    shared: Arc<Shared>,
    slot: usize,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        if let Some(s) = st.slots.get_mut(self.slot)
            && s.take().is_some()
        {
            st.live -= 1;
        }
        // The task may be waiting for this waiter to catch up, or be the last one's.
        st.wake_task();
    }
}

impl Waiter {
    /// The response: the shared head (or failure) within the waiter's own budget, and a body
    /// bounded by the same deadline.
    pub(crate) async fn response(
        self,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Response<GateBody>, UpstreamFailure> {
        let mut sleep = Box::pin(tokio::time::sleep_until(deadline));
        let head = poll_fn(|cx| match self.poll_head(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(UpstreamFailure::Timeout(budget))),
                Poll::Pending => Poll::Pending,
            },
        })
        .await?;
        let body = WaiterBody {
            waiter: self,
            sleep,
            delivered: 0,
            content_length: head.content_length,
            done: false,
        };
        let mut resp = Response::new(body.boxed());
        *resp.status_mut() = head.status;
        *resp.version_mut() = head.version;
        *resp.headers_mut() = head.headers.clone();
        Ok(resp)
    }

    fn poll_head(&self, cx: &Context<'_>) -> Poll<Result<Arc<Head>, UpstreamFailure>> {
        let mut guard = lock(&self.shared.state);
        let st = &mut *guard;
        match &st.head {
            HeadState::Ready(h) => Poll::Ready(Ok(Arc::clone(h))),
            HeadState::Failed(f) => Poll::Ready(Err(*f)),
            HeadState::Pending => {
                if let Some(Some(slot)) = st.slots.get_mut(self.slot) {
                    slot.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn poll_next(&self, cx: &Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut guard = lock(&self.shared.state);
        let st = &mut *guard;
        let tail = st.tail();
        let State {
            slots,
            chunks,
            first,
            end,
            task,
            ..
        } = st;
        let Some(Some(slot)) = slots.get_mut(self.slot) else {
            return Poll::Ready(None);
        };
        if slot.done {
            return Poll::Ready(None);
        }
        if slot.cut {
            slot.done = true;
            return Poll::Ready(Some(Err(BoxError::from(CUT_OFF))));
        }
        if slot.next < tail {
            let chunk = usize::try_from(slot.next - *first)
                .ok()
                .and_then(|i| chunks.get(i));
            let Some(chunk) = chunk else {
                // Unreachable: chunks are dropped only behind every live reader.
                slot.done = true;
                return Poll::Ready(Some(Err(BoxError::from(CUT_OFF))));
            };
            slot.next += 1;
            let data = chunk.data.clone();
            if slot.next == tail
                && end.is_none()
                && let Some(w) = task.take()
            {
                // Read ahead while this chunk is written to the client.
                w.wake();
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match end {
            Some(End::Done(trailers)) => {
                slot.done = true;
                Poll::Ready(trailers.clone().map(|t| Ok(Frame::trailers(t))))
            }
            Some(End::Failed(why)) => {
                slot.done = true;
                Poll::Ready(Some(Err(BoxError::from(why.to_string()))))
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                if let Some(w) = task.take() {
                    w.wake();
                }
                Poll::Pending
            }
        }
    }

    /// Ends this waiter's reading (its deadline passed): it no longer holds chunks back.
    fn stop(&self) {
        let mut st = lock(&self.shared.state);
        if let Some(Some(slot)) = st.slots.get_mut(self.slot) {
            slot.done = true;
        }
        st.wake_task();
    }
}

/// A waiter's response body: the shared log from its own cursor, bounded by its own deadline.
struct WaiterBody {
    waiter: Waiter,
    sleep: Pin<Box<Sleep>>,
    delivered: u64,
    content_length: Option<u64>,
    done: bool,
}

impl Body for WaiterBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.waiter.poll_next(cx) {
            Poll::Ready(item) => {
                match &item {
                    Some(Ok(frame)) => {
                        if let Some(d) = frame.data_ref() {
                            this.delivered += d.len() as u64;
                        }
                    }
                    Some(Err(_)) | None => this.done = true,
                }
                Poll::Ready(item)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    this.waiter.stop();
                    Poll::Ready(Some(Err(BoxError::from(PAST_DEADLINE))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.content_length == Some(self.delivered)
    }

    fn size_hint(&self) -> SizeHint {
        match self.content_length {
            Some(n) => SizeHint::with_exact(n.saturating_sub(self.delivered)),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::{mpsc, oneshot};

    use super::*;

    /// A body fed frame by frame by the test; counts the frames the fetch task pulled and
    /// tells when it is dropped (the upstream request abandoned).
    struct FedBody {
        rx: mpsc::UnboundedReceiver<Result<Frame<Bytes>, BoxError>>,
        pulled: Arc<AtomicUsize>,
        _dropped: oneshot::Sender<()>,
    }

    impl Body for FedBody {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            let polled = self.rx.poll_recv(cx);
            if matches!(polled, Poll::Ready(Some(_))) {
                self.pulled.fetch_add(1, Ordering::SeqCst);
            }
            polled
        }
    }

    /// The test's end of one fake upstream exchange.
    struct Upstream {
        /// Sends the head (or a failure).
        head: Option<oneshot::Sender<FetchResult>>,
        frames: mpsc::UnboundedSender<Result<Frame<Bytes>, BoxError>>,
        body: Option<FedBody>,
        pulled: Arc<AtomicUsize>,
        dropped: oneshot::Receiver<()>,
    }

    impl Upstream {
        fn new() -> (Self, oneshot::Receiver<FetchResult>) {
            let (head, head_rx) = oneshot::channel();
            let (frames, rx) = mpsc::unbounded_channel();
            let (dropped_tx, dropped) = oneshot::channel();
            let pulled = Arc::new(AtomicUsize::new(0));
            let body = FedBody {
                rx,
                pulled: Arc::clone(&pulled),
                _dropped: dropped_tx,
            };
            let up = Self {
                head: Some(head),
                frames,
                body: Some(body),
                pulled,
                dropped,
            };
            (up, head_rx)
        }

        /// Answers 200 with the streamed body.
        fn answer(&mut self) {
            let body = self.body.take().expect("answered once");
            let exchange = Exchange {
                latency: Duration::from_millis(1),
                retried: false,
            };
            let _ = self
                .head
                .take()
                .expect("answered once")
                .send(Ok((Response::new(body.boxed()), exchange)));
        }

        fn fail(&mut self, failure: UpstreamFailure) {
            let _ = self.head.take().expect("answered once").send(Err(failure));
        }

        fn send(&self, data: &'static [u8]) {
            self.frames
                .send(Ok(Frame::data(Bytes::from_static(data))))
                .unwrap();
        }

        fn send_bytes(&self, data: Bytes) {
            self.frames.send(Ok(Frame::data(data))).unwrap();
        }

        fn end(&mut self) {
            let (closed, _) = mpsc::unbounded_channel();
            self.frames = closed;
        }
    }

    fn counters() -> FetchCounters {
        FetchCounters {
            latency: Histogram::new([0.1]),
            retries: Counter::default(),
            cutoffs: Counter::default(),
            route: Arc::from("/"),
        }
    }

    fn key(path: &'static str, accept: Option<&'static str>) -> FetchKey {
        let mut req = Request::get(path);
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        FetchKey::of(&req.body(http_body_util::Empty::<Bytes>::new()).unwrap()).unwrap()
    }

    /// Joins `key`; a leader's fetch waits for the head from `head` (a follower's `head` is
    /// left unused).
    fn join(
        table: &Arc<SharedFetches>,
        key: FetchKey,
        head: oneshot::Receiver<FetchResult>,
        counters: &FetchCounters,
    ) -> (Waiter, Role) {
        table.join(key, || {
            let fetch = async move { head.await.unwrap_or(Err(UpstreamFailure::Unreachable)) };
            (fetch, counters.clone())
        })
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    async fn collect(resp: Response<GateBody>) -> Result<Bytes, BoxError> {
        resp.into_body().collect().await.map(|c| c.to_bytes())
    }

    #[test]
    fn only_bodiless_get_and_head_have_a_key() {
        let empty = || http_body_util::Empty::<Bytes>::new();
        let get = Request::get("/m?x=1").body(empty()).unwrap();
        let head = Request::head("/m?x=1").body(empty()).unwrap();
        let post = Request::post("/m").body(empty()).unwrap();
        let with_body = Request::get("/m")
            .body(http_body_util::Full::new(Bytes::from_static(b"x")))
            .unwrap();
        let twice = Request::get("/m")
            .header(header::ACCEPT, "a")
            .header(header::ACCEPT, "b")
            .body(empty())
            .unwrap();
        assert!(FetchKey::of(&get).is_some());
        assert_ne!(
            FetchKey::of(&get),
            FetchKey::of(&head),
            "HEAD never shares with GET"
        );
        assert!(FetchKey::of(&post).is_none());
        assert!(FetchKey::of(&with_body).is_none());
        assert!(FetchKey::of(&twice).is_none());
        assert_ne!(key("/m", Some("text/plain")), key("/m", None));
        assert_ne!(key("/m?a", None), key("/m?b", None));
        assert_eq!(key("/m", Some("x")), key("/m", Some("x")));
    }

    #[tokio::test]
    async fn waiters_share_one_fetch_and_read_the_same_body() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (mut up, head) = Upstream::new();
        let mut w = join_n(&table, &key("/m", None), 2, head, &c);
        let follower = w.pop().unwrap();
        let leader = w.pop().unwrap();
        let a = tokio::spawn(async move {
            collect(leader.response(far(), Duration::ZERO).await.unwrap()).await
        });
        let b = tokio::spawn(async move {
            collect(follower.response(far(), Duration::ZERO).await.unwrap()).await
        });
        up.answer();
        up.send(b"one ");
        up.send(b"two ");
        up.send(b"three");
        up.end();
        let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        assert_eq!(a, "one two three");
        assert_eq!(a, b);
        // Finished: the table forgot it, so the next request starts a new fetch.
        wait_for(|| table.in_flight() == 0).await;
        let (_up2, head2) = Upstream::new();
        assert_eq!(join(&table, key("/m", None), head2, &c).1, Role::Leader);
    }

    const DEADLINE: Duration = Duration::from_secs(20);

    /// `n` waiters of `key`: a leader fed by `head`, then followers.
    fn join_n(
        table: &Arc<SharedFetches>,
        key: &FetchKey,
        n: usize,
        head: oneshot::Receiver<FetchResult>,
        c: &FetchCounters,
    ) -> Vec<Waiter> {
        let mut head = Some(head);
        (0..n)
            .map(|i| {
                let h = head.take().unwrap_or_else(|| oneshot::channel().1);
                let (w, role) = join(table, key.clone(), h, c);
                assert_eq!(role == Role::Leader, i == 0);
                w
            })
            .collect()
    }

    #[tokio::test]
    async fn a_failure_before_the_head_reaches_every_waiter() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (mut up, head) = Upstream::new();
        let tasks: Vec<_> = join_n(&table, &key("/m", None), 5, head, &c)
            .into_iter()
            .map(|w| tokio::spawn(w.response(far(), Duration::ZERO)))
            .collect();
        up.fail(UpstreamFailure::Unreachable);
        for t in tasks {
            assert_eq!(t.await.unwrap().err(), Some(UpstreamFailure::Unreachable));
        }
    }

    #[tokio::test]
    async fn a_follower_waits_for_the_head_only_within_its_own_budget() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (mut up, head) = Upstream::new();
        let mut w = join_n(&table, &key("/m", None), 2, head, &c);
        let follower = w.pop().unwrap();
        let leader = w.pop().unwrap();
        let budget = Duration::from_millis(20);
        let early = follower
            .response(Instant::now() + budget, budget)
            .await
            .err();
        assert_eq!(early, Some(UpstreamFailure::Timeout(budget)));
        // The leader is not affected.
        let reading =
            tokio::spawn(
                async move { collect(leader.response(far(), budget).await.unwrap()).await },
            );
        up.answer();
        up.send(b"ok");
        up.end();
        assert_eq!(reading.await.unwrap().unwrap(), "ok");
    }

    #[tokio::test]
    async fn the_fastest_reader_drives_and_no_one_reading_pulls_at_most_one_frame() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (mut up, head) = Upstream::new();
        let mut w = join_n(&table, &key("/m", None), 2, head, &c);
        let follower = w.pop().unwrap();
        let leader = w.pop().unwrap();
        let pending_leader = tokio::spawn(leader.response(far(), Duration::ZERO));
        let pending_follower = tokio::spawn(follower.response(far(), Duration::ZERO));
        up.answer();
        for _ in 0..10 {
            up.send(b"0123456789");
        }
        let leader = pending_leader.await.unwrap().unwrap();
        let follower = pending_follower.await.unwrap().unwrap();
        // Nobody reads: the task takes the first frame (both waiters are at the log's end)
        // and then waits.
        wait_for(|| up.pulled.load(Ordering::SeqCst) >= 1).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(up.pulled.load(Ordering::SeqCst), 1);
        // The leader reads everything; the follower, not reading, does not hold it back.
        let mut body = leader.into_body();
        let mut got = 0;
        while got < 100 {
            let frame = body.frame().await.unwrap().unwrap();
            got += frame.data_ref().map_or(0, Bytes::len);
        }
        assert_eq!(up.pulled.load(Ordering::SeqCst), 10);
        up.end();
        assert!(body.frame().await.is_none());
        // The follower still reads all of it afterwards (it never fell 4 MiB behind).
        assert_eq!(collect(follower).await.unwrap().len(), 100);
    }

    async fn wait_for(mut cond: impl FnMut() -> bool) {
        tokio::time::timeout(DEADLINE, async {
            while !cond() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("condition within the deadline");
    }

    #[tokio::test]
    async fn a_follower_too_far_behind_is_cut_off_and_memory_stays_bounded() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (mut up, head) = Upstream::new();
        let k = key("/m", None);
        let mut w = join_n(&table, &k, 2, head, &c);
        let follower = w.pop().unwrap();
        let leader = w.pop().unwrap();
        let pending_leader = tokio::spawn(leader.response(far(), Duration::ZERO));
        let pending_follower = tokio::spawn(follower.response(far(), Duration::ZERO));
        let shared = follower_shared(&table, &k);
        up.answer();
        let leader = pending_leader.await.unwrap().unwrap();
        let follower = pending_follower.await.unwrap().unwrap();
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let total = 6 * MAX_LAG as usize;
        for _ in 0..total / chunk.len() {
            up.send_bytes(chunk.clone());
        }
        up.end();
        let mut body = leader.into_body();
        let mut got = 0;
        let mut most_held = 0;
        while let Some(frame) = body.frame().await {
            got += frame.unwrap().data_ref().map_or(0, Bytes::len);
            let held: usize = lock(&shared.state)
                .chunks
                .iter()
                .map(|c| c.data.len())
                .sum();
            most_held = most_held.max(held);
        }
        assert_eq!(got, total, "the leader got everything");
        assert_eq!(c.cutoffs.get(), 1);
        assert!(
            most_held as u64 <= MAX_LAG + 2 * chunk.len() as u64,
            "held {most_held} bytes"
        );
        let err = collect(follower).await.unwrap_err();
        assert!(err.to_string().contains("4 MiB behind"), "{err}");
        // Past MAX_LAG the fetch could no longer be joined.
        let (_up2, head2) = Upstream::new();
        assert_eq!(join(&table, k, head2, &c).1, Role::Leader);
    }

    /// The shared state of the fetch in flight for `k`.
    fn follower_shared(table: &SharedFetches, k: &FetchKey) -> Arc<Shared> {
        Arc::clone(lock(&table.table).get(k).expect("in flight"))
    }

    #[tokio::test]
    async fn when_every_waiter_leaves_the_upstream_request_is_dropped() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (mut up, head) = Upstream::new();
        let k = key("/m", None);
        let w = join_n(&table, &k, 3, head, &c);
        let responses: Vec<_> = w
            .into_iter()
            .map(|w| tokio::spawn(w.response(far(), Duration::ZERO)))
            .collect();
        up.answer();
        up.send(b"partial");
        let mut responses2 = Vec::new();
        for r in responses {
            responses2.push(r.await.unwrap().unwrap());
        }
        drop(responses2);
        // The body (and with it the upstream connection) goes with the task.
        tokio::time::timeout(DEADLINE, &mut up.dropped)
            .await
            .expect("the upstream body was dropped")
            .ok();
        wait_for(|| table.in_flight() == 0).await;
    }

    #[tokio::test]
    async fn an_error_mid_body_reaches_every_waiter() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (mut up, head) = Upstream::new();
        let tasks: Vec<_> = join_n(&table, &key("/m", None), 3, head, &c)
            .into_iter()
            .map(|w| {
                tokio::spawn(async move {
                    collect(w.response(far(), Duration::ZERO).await.unwrap()).await
                })
            })
            .collect();
        up.answer();
        up.send(b"half");
        up.frames.send(Err(BoxError::from("reset"))).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err().to_string(), "reset");
        }
    }

    #[tokio::test]
    async fn a_body_of_known_length_closes_joining_with_its_last_byte() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let k = key("/m", None);
        let (_leader, role) = table.join(k.clone(), || {
            let fetch = async {
                let body = http_body_util::Full::new(Bytes::from_static(b"complete"))
                    .map_err(|never| match never {})
                    .boxed();
                let exchange = Exchange {
                    latency: Duration::ZERO,
                    retried: false,
                };
                Ok((Response::new(body), exchange))
            };
            (fetch, c.clone())
        });
        assert_eq!(role, Role::Leader);
        let (follower, role) = join(&table, k.clone(), oneshot::channel().1, &c);
        assert_eq!(role, Role::Follower);
        let resp = follower.response(far(), Duration::ZERO).await.unwrap();
        let mut body = resp.into_body();
        assert_eq!(body.size_hint().exact(), Some(8));
        let mut got = Vec::new();
        // A client that trusts the length stops at the last byte, before any end frame.
        while !body.is_end_stream() {
            let frame = body.frame().await.unwrap().unwrap();
            got.extend_from_slice(frame.data_ref().unwrap());
        }
        assert_eq!(got, b"complete");
        let (_up, head) = Upstream::new();
        assert_eq!(
            join(&table, k, head, &c).1,
            Role::Leader,
            "a request after the response completed starts a new fetch"
        );
    }

    #[tokio::test]
    async fn different_keys_do_not_share() {
        let table = Arc::new(SharedFetches::default());
        let c = counters();
        let (_a, head_a) = Upstream::new();
        let (_b, head_b) = Upstream::new();
        assert_eq!(
            join(&table, key("/m", Some("text/plain")), head_a, &c).1,
            Role::Leader
        );
        assert_eq!(
            join(
                &table,
                key("/m", Some("application/openmetrics-text")),
                head_b,
                &c
            )
            .1,
            Role::Leader
        );
        assert_eq!(table.in_flight(), 2);
    }
}
