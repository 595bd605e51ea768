//! The libp2p node: a swarm with gossipsub (blocks and transactions, relayed only after the
//! application reports them valid), request-response ([`crate::codec`]), identify and ping,
//! and a block list fed by [`PeerScores`]. It runs on its own tokio task; the application
//! talks to it through [`NetworkHandle`] (commands) and [`NetEvent`]s (a channel), so that
//! validation, which is CPU-bound, never runs on the network's executor.

use std::time::{Duration, Instant};

use ann_ledger::{Block, BlockHash, Decode, Encode, Transaction};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, allow_block_list, identify, noise, ping, tcp, yamux};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::codec::{Codec, PROTOCOL};
use crate::score::{MALFORMED, PeerScores, Verdict};
use crate::wire::{Request, Response};

/// Why the network could not start or act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The transport or a behaviour could not be built.
    #[error("building the libp2p node failed: {0}")]
    Build(String),
    /// Listening on the address failed.
    #[error("listening on {address} failed: {reason}")]
    Listen {
        /// The address.
        address: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The network task has stopped.
    #[error("the network task has stopped")]
    Stopped,
}

/// How a node joins the network.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// The chain's genesis hash: topics are named by it, so nodes of other chains never mix.
    pub genesis: BlockHash,
    /// Where to listen (`/ip4/127.0.0.1/tcp/0` picks a free port on loopback).
    pub listen: Multiaddr,
    /// How fast scores recover.
    pub score_half_life: Duration,
    /// How long a ban lasts.
    pub ban_for: Duration,
}

impl NetConfig {
    /// Loopback on a free port, scores recovering in 10 minutes, bans of an hour.
    pub fn local(genesis: BlockHash) -> Self {
        NetConfig {
            genesis,
            listen: "/ip4/127.0.0.1/tcp/0"
                .parse()
                .unwrap_or_else(|_| Multiaddr::empty()),
            score_half_life: Duration::from_secs(600),
            ban_for: Duration::from_secs(3_600),
        }
    }

    /// The gossip topic of blocks: `/blockchain-ann/<genesis>/block/1`.
    pub fn block_topic(&self) -> IdentTopic {
        IdentTopic::new(format!("/blockchain-ann/{}/block/1", self.genesis))
    }

    /// The gossip topic of transactions: `/blockchain-ann/<genesis>/tx/1`.
    pub fn transaction_topic(&self) -> IdentTopic {
        IdentTopic::new(format!("/blockchain-ann/{}/tx/1", self.genesis))
    }
}

/// What the network tells the application.
#[derive(Debug)]
pub enum NetEvent {
    /// Listening on an address.
    Listening(Multiaddr),
    /// A connection to a peer opened.
    Connected(PeerId),
    /// A peer subscribed to a topic (gossip on it can reach the peer now).
    Subscribed {
        /// The peer.
        peer: PeerId,
        /// The topic's name.
        topic: String,
    },
    /// A connection closed.
    Disconnected(PeerId),
    /// A peer was banned (its score fell to the ban threshold) and disconnected.
    Banned(PeerId),
    /// A gossiped block, decoded; report a verdict with [`NetworkHandle::report`] before it
    /// is relayed.
    Block {
        /// The peer that sent it.
        from: PeerId,
        /// Gossipsub's id of the message.
        id: MessageId,
        /// The block.
        block: Box<Block>,
    },
    /// A gossiped transaction, decoded; report a verdict as for blocks.
    Transaction {
        /// The peer that sent it.
        from: PeerId,
        /// Gossipsub's id of the message.
        id: MessageId,
        /// The transaction.
        transaction: Box<Transaction>,
    },
    /// A peer's request; answer with [`NetworkHandle::respond`].
    Request {
        /// The peer.
        from: PeerId,
        /// What it asks.
        request: Request,
        /// Where the answer goes.
        channel: ResponseChannel<Response>,
    },
    /// The answer to one of our requests.
    Response {
        /// The peer.
        from: PeerId,
        /// Which request.
        id: OutboundRequestId,
        /// The answer.
        response: Response,
    },
    /// One of our requests failed (timeout, refused stream, malformed answer).
    RequestFailed {
        /// The peer.
        peer: PeerId,
        /// Which request.
        id: OutboundRequestId,
        /// Why.
        reason: String,
    },
}

enum Command {
    Dial(Multiaddr),
    Publish {
        topic: IdentTopic,
        data: Vec<u8>,
    },
    Report {
        from: PeerId,
        id: MessageId,
        verdict: Verdict,
    },
    Request {
        peer: PeerId,
        request: Request,
        reply: tokio::sync::oneshot::Sender<OutboundRequestId>,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Penalize {
        peer: PeerId,
        verdict: Verdict,
    },
}

/// Commands to a running node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    commands: mpsc::UnboundedSender<Command>,
    peer_id: PeerId,
    config: NetConfig,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands.send(command).map_err(|_| NetError::Stopped)
    }

    /// Connects to `address`.
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub fn dial(&self, address: Multiaddr) -> Result<(), NetError> {
        self.send(Command::Dial(address))
    }

    /// Gossips a block (one this node has validated).
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub fn publish_block(&self, block: &Block) -> Result<(), NetError> {
        self.publish_raw(self.config.block_topic(), block.encode())
    }

    /// Gossips a transaction (one this node's pool accepted).
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub fn publish_transaction(&self, transaction: &Transaction) -> Result<(), NetError> {
        self.publish_raw(self.config.transaction_topic(), transaction.encode())
    }

    /// Gossips arbitrary bytes on a topic (for tests of hostile peers).
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub fn publish_raw(&self, topic: IdentTopic, data: Vec<u8>) -> Result<(), NetError> {
        self.send(Command::Publish { topic, data })
    }

    /// Reports the verdict on a gossiped message: `Accept` relays it, `Reject` drops it and
    /// penalises the sender, `Ignore` drops it.
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub fn report(&self, from: PeerId, id: MessageId, verdict: Verdict) -> Result<(), NetError> {
        self.send(Command::Report { from, id, verdict })
    }

    /// Penalises a peer for something outside gossip (a bad response, a fake chain).
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub fn penalize(&self, peer: PeerId, verdict: Verdict) -> Result<(), NetError> {
        self.send(Command::Penalize { peer, verdict })
    }

    /// Sends a request; the answer arrives as [`NetEvent::Response`] with the returned id.
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub async fn request(
        &self,
        peer: PeerId,
        request: Request,
    ) -> Result<OutboundRequestId, NetError> {
        let (reply, id) = tokio::sync::oneshot::channel();
        self.send(Command::Request {
            peer,
            request,
            reply,
        })?;
        id.await.map_err(|_| NetError::Stopped)
    }

    /// Answers a peer's request.
    ///
    /// # Errors
    /// [`NetError::Stopped`] if the node has stopped.
    pub fn respond(
        &self,
        channel: ResponseChannel<Response>,
        response: Response,
    ) -> Result<(), NetError> {
        self.send(Command::Respond { channel, response })
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    gossipsub: gossipsub::Behaviour,
    requests: request_response::Behaviour<Codec>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// Gossipsub's message id: SHA-256 of the topic and the data (so the same block sent by two
/// peers has one id, unlike source + sequence number).
fn message_id(message: &gossipsub::Message) -> MessageId {
    let mut hasher = Sha256::new();
    hasher.update(message.topic.as_str().as_bytes());
    hasher.update(&message.data);
    MessageId::from(hasher.finalize().to_vec())
}

/// Starts a node on the current tokio runtime; returns its handle and its events.
///
/// # Errors
/// [`NetError`] if the transport cannot be built or the address cannot be listened on.
pub fn start(
    config: NetConfig,
) -> Result<(NetworkHandle, mpsc::UnboundedReceiver<NetEvent>), NetError> {
    let build = |e: &dyn std::fmt::Display| NetError::Build(e.to_string());
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| build(&e))?
        .with_behaviour(|key| {
            let gossip_config = gossipsub::ConfigBuilder::default()
                .validation_mode(gossipsub::ValidationMode::Strict)
                .validate_messages()
                .message_id_fn(message_id)
                .max_transmit_size(ann_ledger::MAX_BLOCK_SIZE + 1024)
                .heartbeat_interval(Duration::from_millis(500))
                .build()
                .map_err(|e| e.to_string())?;
            let gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )?;
            let requests = request_response::Behaviour::with_codec(
                Codec,
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
            );
            Ok(Behaviour {
                blocked: allow_block_list::Behaviour::default(),
                gossipsub,
                requests,
                identify: identify::Behaviour::new(identify::Config::new(
                    "/blockchain-ann/id/1".into(),
                    key.public(),
                )),
                ping: ping::Behaviour::default(),
            })
        })
        .map_err(|e| build(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    for topic in [config.block_topic(), config.transaction_topic()] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| build(&e))?;
    }
    swarm
        .listen_on(config.listen.clone())
        .map_err(|e| NetError::Listen {
            address: config.listen.clone(),
            reason: e.to_string(),
        })?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::unbounded_channel();
    let handle = NetworkHandle {
        commands,
        peer_id: *swarm.local_peer_id(),
        config: config.clone(),
    };
    let scores = PeerScores::new(config.score_half_life, config.ban_for);
    tokio::spawn(run(swarm, config, command_rx, events, scores));
    Ok((handle, event_rx))
}

struct Driver {
    config: NetConfig,
    events: mpsc::UnboundedSender<NetEvent>,
    scores: PeerScores<PeerId>,
}

impl Driver {
    fn emit(&self, event: NetEvent) {
        // The application may have dropped its receiver; the node keeps serving peers.
        let _ = self.events.send(event);
    }

    fn penalize(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId, verdict: Verdict) {
        if self.scores.apply(&peer, verdict, Instant::now()) {
            swarm.behaviour_mut().blocked.block_peer(peer);
            let _ = swarm.disconnect_peer_id(peer);
            tracing::info!(%peer, "banned");
            self.emit(NetEvent::Banned(peer));
        }
    }

    fn on_gossip(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        from: PeerId,
        id: MessageId,
        message: gossipsub::Message,
    ) {
        let topic = message.topic.as_str();
        let decoded = if topic == self.config.block_topic().hash().as_str() {
            Block::decode(&message.data).map(|block| NetEvent::Block {
                from,
                id: id.clone(),
                block: Box::new(block),
            })
        } else {
            Transaction::decode(&message.data).map(|transaction| NetEvent::Transaction {
                from,
                id: id.clone(),
                transaction: Box::new(transaction),
            })
        };
        match decoded {
            Ok(event) => self.emit(event),
            Err(error) => {
                tracing::debug!(%from, %error, "malformed gossip");
                swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &from, MessageAcceptance::Reject);
                self.penalize(swarm, from, MALFORMED);
            }
        }
    }

    fn on_command(&mut self, swarm: &mut Swarm<Behaviour>, command: Command) {
        match command {
            Command::Dial(address) => {
                if let Err(error) = swarm.dial(address) {
                    tracing::debug!(%error, "dial failed");
                }
            }
            Command::Publish { topic, data } => {
                if let Err(error) = swarm.behaviour_mut().gossipsub.publish(topic, data) {
                    // No peer yet, or a duplicate: gossip is best effort.
                    tracing::debug!(%error, "publish");
                }
            }
            Command::Report { from, id, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                    Verdict::Reject { .. } => MessageAcceptance::Reject,
                };
                swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &from, acceptance);
                self.penalize(swarm, from, verdict);
            }
            Command::Penalize { peer, verdict } => self.penalize(swarm, peer, verdict),
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = swarm.behaviour_mut().requests.send_request(&peer, request);
                let _ = reply.send(id);
            }
            Command::Respond { channel, response } => {
                // The peer may have gone; nothing to do then.
                let _ = swarm
                    .behaviour_mut()
                    .requests
                    .send_response(channel, response);
            }
        }
    }

    fn on_swarm(&mut self, swarm: &mut Swarm<Behaviour>, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => self.emit(NetEvent::Listening(address)),
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.emit(NetEvent::Connected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => self.emit(NetEvent::Disconnected(peer_id)),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => match event {
                gossipsub::Event::Message {
                    propagation_source,
                    message_id,
                    message,
                } => self.on_gossip(swarm, propagation_source, message_id, message),
                gossipsub::Event::Subscribed { peer_id, topic } => {
                    self.emit(NetEvent::Subscribed {
                        peer: peer_id,
                        topic: topic.into_string(),
                    });
                }
                _ => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Requests(event)) => match event {
                request_response::Event::Message { peer, message, .. } => match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.emit(NetEvent::Request {
                        from: peer,
                        request,
                        channel,
                    }),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => self.emit(NetEvent::Response {
                        from: peer,
                        id: request_id,
                        response,
                    }),
                },
                request_response::Event::OutboundFailure {
                    peer,
                    request_id,
                    error,
                    ..
                } => {
                    if matches!(error, request_response::OutboundFailure::Io(_)) {
                        // A malformed response (the codec refused its frame or its bytes).
                        self.penalize(swarm, peer, MALFORMED);
                    }
                    self.emit(NetEvent::RequestFailed {
                        peer,
                        id: request_id,
                        reason: error.to_string(),
                    });
                }
                request_response::Event::InboundFailure { peer, error, .. } => {
                    if matches!(error, request_response::InboundFailure::Io(_)) {
                        // A malformed request.
                        self.penalize(swarm, peer, MALFORMED);
                    }
                }
                request_response::Event::ResponseSent { .. } => {}
            },
            _ => {}
        }
    }
}

async fn run(
    mut swarm: Swarm<Behaviour>,
    config: NetConfig,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<NetEvent>,
    scores: PeerScores<PeerId>,
) {
    let mut driver = Driver {
        config,
        events,
        scores,
    };
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => driver.on_command(&mut swarm, command),
                // Every handle is gone: stop.
                None => return,
            },
            event = swarm.select_next_some() => driver.on_swarm(&mut swarm, event),
        }
    }
}
