"""What the Twilio and Plivo emulators share: the caller, the call flow, REST plumbing, the thread runner."""
