//! `AI_PROVIDERS`: which providers answer questions, in the order they are asked.

use std::str::FromStr;

use pieces_model::Provider;

/// An ordered list of distinct providers; empty means "the configured ones, cognitive
/// first".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AiProviders(pub Vec<Provider>);

impl FromStr for AiProviders {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut providers = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let provider: Provider = name.parse()?;
            if providers.contains(&provider) {
                return Err(format!("names `{name}` twice"));
            }
            providers.push(provider);
        }
        Ok(Self(providers))
    }
}

impl super::Settings {
    /// The providers asked for an answer, in order: `AI_PROVIDERS`, or every configured one
    /// with the cognitive service first. `validate` has checked that each named one is
    /// configured.
    pub fn answering_providers(&self) -> Vec<Provider> {
        if !self.ai_providers.0.is_empty() {
            return self.ai_providers.0.clone();
        }
        Provider::ALL
            .into_iter()
            .filter(|p| self.provider_url(*p).is_some())
            .collect()
    }

    /// The base URL of a provider, when configured.
    pub fn provider_url(&self, provider: Provider) -> Option<&str> {
        match provider {
            Provider::Cognitive => self.cognitive_services_url.as_deref(),
            Provider::Openai => self.openai_base_url.as_deref(),
        }
    }
}
