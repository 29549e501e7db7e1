"""Small fake provider servers (Twilio, Telegram) run on loopback for integration and e2e tests."""
